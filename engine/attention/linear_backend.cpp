#include "engine/attention/linear_backend.h"

namespace strata::attention {
namespace {

// A sequence's slot in one layer: the cell's recurrent state and conv history, fp32.
int64_t state_bytes_per_sequence(const model::ModelConfig& config) {
  return static_cast<int64_t>(sizeof(float)) * config.gated_delta_net.slot_floats();
}

std::vector<LayerPlan> resolve_linear(const nlohmann::json& /*params*/, const RuleContext& context) {
  LayerPlan plan;
  plan.backend = "linear";
  plan.cache_kind = kvcache::CacheKind::kRecurrentState;
  return std::vector<LayerPlan>(context.layers.size(), plan);
}

}  // namespace

BackendInfo linear_backend() {
  return BackendInfo{
      .name = "linear",
      .summary = "gated delta-rule recurrence (chunked prefill, one-step decode) on layers trained for it",
      .cache_kinds = {kvcache::CacheKind::kRecurrentState},
      .parameters = {},
      .supports = {.prefix_cache = false, .chunked_prefill = true, .preemption_recompute = true, .cuda_graphs = false},
      .runs_on_cuda = false,
      .runs_linear_layers = true,
      .bytes_per_token = state_bytes_per_sequence,
      .resolve = resolve_linear,
  };
}

}  // namespace strata::attention
