// Which resolved plans a device can run. The CPU runs every registered backend; the CUDA model
// runs backends that declare runs_on_cuda, and of those only layers that read every earlier key
// (no sliding window yet, trained or chosen).
#pragma once

#include "engine/attention/attention_plan.h"

namespace strata::attention {

// Throws LayoutError naming the first layer the CUDA model cannot run, and why.
void check_runs_on_cuda(const AttentionPlan& plan);

}  // namespace strata::attention
