#include "engine/attention/full_backend.h"

#include "engine/attention/layout_params.h"

namespace strata::attention {
namespace {

std::vector<LayerPlan> resolve_full(const nlohmann::json& params, const RuleContext& context) {
  const bool release = bool_param(params, "release_outside_window", false, context.where);
  std::vector<LayerPlan> plans;
  for (const int32_t layer : context.layers) {
    LayerPlan plan;
    plan.backend = "full";
    plan.window_tokens = context.config.layers[static_cast<size_t>(layer)].sliding_window;
    plan.cache_kind = plan.window_tokens > 0 && release ? kvcache::CacheKind::kWindowKv : kvcache::CacheKind::kPagedKv;
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace

BackendInfo full_backend() {
  return BackendInfo{
      .name = "full",
      .summary = "softmax attention over every earlier key, or over the layer's trained sliding window",
      .cache_kinds = {kvcache::CacheKind::kPagedKv, kvcache::CacheKind::kWindowKv},
      .parameters = {"release_outside_window"},
      .supports = {.prefix_cache = true, .chunked_prefill = true, .preemption_recompute = true, .cuda_graphs = true},
      .runs_on_cuda = true,
      .bytes_per_token = fp16_kv_bytes_per_token,
      .resolve = resolve_full,
  };
}

}  // namespace strata::attention
