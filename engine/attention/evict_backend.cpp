#include "engine/attention/evict_backend.h"

#include "engine/attention/layout_error.h"
#include "engine/attention/layout_params.h"

namespace strata::attention {
namespace {

constexpr int64_t kDefaultH2OSinks = 4;
constexpr int64_t kDefaultObservationWindow = 32;
constexpr int64_t kDefaultPoolKernel = 7;

EvictPolicy policy_of(const nlohmann::json& params, const std::string& where) {
  const auto policy = optional_string_param(params, "policy", where);
  if (policy == "snapkv") return EvictPolicy::kSnapKv;
  if (policy == "h2o") return EvictPolicy::kH2O;
  throw LayoutError(where + ": evict needs \"policy\": \"snapkv\" or \"h2o\"" +
                    (policy ? ", not '" + *policy + "'" : std::string()));
}

// A parameter only the other policy takes.
void refuse_foreign(const nlohmann::json& params, const std::string& key, std::string_view owner,
                    const std::string& where) {
  if (params.contains(key)) {
    throw LayoutError(where + ": parameter '" + key + "' belongs to evict policy '" + std::string(owner) + "'");
  }
}

EvictionPlan eviction_of(const nlohmann::json& params, const RuleContext& context) {
  const std::string& where = context.where;
  EvictionPlan plan;
  plan.policy = policy_of(params, where);
  const int64_t context_length = context.config.context_length;
  plan.budget_tokens =
      count_or_fraction_param(params, "budget_tokens", "budget_fraction", context_length, "evict", where)
          .of(context_length);
  const int64_t budget = plan.budget_tokens;
  const bool snapkv = plan.policy == EvictPolicy::kSnapKv;
  plan.sink_tokens = static_cast<int32_t>(
      optional_int_param(params, "sink_tokens", 0, budget, where).value_or(snapkv ? 0 : kDefaultH2OSinks));
  if (snapkv) {
    refuse_foreign(params, "recent_tokens", "h2o", where);
    plan.recent_tokens = static_cast<int32_t>(
        optional_int_param(params, "observation_window", 1, budget, where).value_or(kDefaultObservationWindow));
    plan.pool_kernel =
        static_cast<int32_t>(optional_int_param(params, "pool_kernel", 1, 1023, where).value_or(kDefaultPoolKernel));
    if (plan.pool_kernel % 2 == 0) {
      throw LayoutError(where + ": parameter 'pool_kernel' must be odd (a window centred on each key), not " +
                        std::to_string(plan.pool_kernel));
    }
  } else {
    refuse_foreign(params, "observation_window", "snapkv", where);
    refuse_foreign(params, "pool_kernel", "snapkv", where);
    plan.recent_tokens =
        static_cast<int32_t>(optional_int_param(params, "recent_tokens", 0, budget, where).value_or(budget / 2));
  }
  if (int64_t{plan.sink_tokens} + plan.recent_tokens >= budget) {
    throw LayoutError(where + ": sink_tokens (" + std::to_string(plan.sink_tokens) + ") + " +
                      (snapkv ? "observation_window (" : "recent_tokens (") + std::to_string(plan.recent_tokens) +
                      ") leave no room for scored keys in a budget of " + std::to_string(budget) + " tokens");
  }
  return plan;
}

std::vector<LayerPlan> resolve_evict(const nlohmann::json& params, const RuleContext& context) {
  LayerPlan plan;
  plan.backend = "evict";
  plan.cache_kind = kvcache::CacheKind::kEvictingKv;
  plan.eviction = eviction_of(params, context);
  return plan_on_unwindowed_layers(plan, context);
}

}  // namespace

int64_t evict_bytes_per_token(const model::ModelConfig& config) {
  return fp16_kv_bytes_per_token(config) + int64_t{config.n_kv_heads} * (sizeof(int32_t) + sizeof(float));
}

BackendInfo evict_backend() {
  return BackendInfo{
      .name = "evict",
      .summary = "per-head KV eviction to a token budget: SnapKV (scored at the prompt's end) or H2O (accumulated "
                 "attention); compacted blocks return to the pool",
      .cache_kinds = {kvcache::CacheKind::kEvictingKv},
      .parameters = {"policy", "budget_tokens", "budget_fraction", "sink_tokens", "recent_tokens",
                     "observation_window", "pool_kernel"},
      // Chunked prefill: nothing is evicted before the prompt's end and scores add up query by
      // query in position order, so chunks equal one shot. Recompute after preemption runs the
      // generated tokens in chunks, which see keys their first run had evicted: not exact. CUDA
      // graphs: a decode step's layouts are inputs; compaction runs after the step, outside it.
      .supports = {.prefix_cache = false, .chunked_prefill = true, .preemption_recompute = false, .cuda_graphs = true},
      .runs_on_cuda = true,
      .bytes_per_token = evict_bytes_per_token,
      .resolve = resolve_evict,
  };
}

}  // namespace strata::attention
