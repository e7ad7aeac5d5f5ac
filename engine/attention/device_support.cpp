#include "engine/attention/device_support.h"

#include <string>

#include "engine/attention/backend_registry.h"
#include "engine/attention/layout_error.h"

namespace strata::attention {

void check_runs_on_cuda(const AttentionPlan& plan) {
  for (size_t li = 0; li < plan.layers.size(); ++li) {
    const LayerPlan& p = plan.layers[li].plan;
    const std::string layer = "--device cuda: layer " + std::to_string(li) + " runs " + std::string(p.backend);
    if (!find_backend(p.backend, layer).runs_on_cuda) {
      throw LayoutError(layer + ", which the CUDA model does not run yet (use --device cpu)");
    }
    if (!p.head_windows.empty()) {
      throw LayoutError(layer + " with per-head windows (MoA), which the CUDA attention kernels do not take: they read one "
                        "window for every head of a layer (use --device cpu)");
    }
  }
}

}  // namespace strata::attention
