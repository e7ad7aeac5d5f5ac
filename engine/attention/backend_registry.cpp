#include "engine/attention/backend_registry.h"

#include <array>

#include "engine/attention/block_topk_backend.h"
#include "engine/attention/evict_backend.h"
#include "engine/attention/full_backend.h"
#include "engine/attention/layout_error.h"
#include "engine/attention/linear_backend.h"
#include "engine/attention/sink_window_backend.h"

namespace strata::attention {

int64_t fp16_kv_bytes_per_token(const model::ModelConfig& config) {
  return int64_t{2} * config.n_kv_heads * config.head_dim * 2;
}

std::span<const BackendInfo> registered_backends() {
  static const std::array<BackendInfo, 5> backends = {full_backend(), sink_window_backend(), block_topk_backend(),
                                                      linear_backend(), evict_backend()};
  return backends;
}

const BackendInfo& find_backend(std::string_view name, const std::string& where) {
  std::string known;
  for (const BackendInfo& backend : registered_backends()) {
    if (backend.name == name) return backend;
    known += (known.empty() ? "" : ", ") + std::string(backend.name);
  }
  throw LayoutError(where + ": unknown backend '" + std::string(name) + "' (available: " + known + ")");
}

std::vector<LayerPlan> plan_on_unwindowed_layers(const LayerPlan& plan, const RuleContext& context) {
  std::vector<LayerPlan> plans;
  for (const int32_t layer : context.layers) {
    const int32_t trained = context.config.layers[static_cast<size_t>(layer)].sliding_window;
    if (trained > 0) {
      throw LayoutError(context.where + ": layer " + std::to_string(layer) + " was trained with a sliding window of " +
                        std::to_string(trained) + " tokens; " + std::string(plan.backend) +
                        " would show it keys it never saw");
    }
    plans.push_back(plan);
  }
  return plans;
}

}  // namespace strata::attention
