// Which resolved plans a device can run. The CPU runs every registered backend; the CUDA model
// runs backends that declare runs_on_cuda on one paged cache: every earlier key, or a layer's
// trained sliding window as a mask (Gemma 3's own layout), and block_topk layers that score
// their own pages; not yet sinks, per-head windows, window_kv groups that release pages or a
// block_topk layer reusing another's selection.
#pragma once

#include "engine/attention/attention_plan.h"

namespace strata::attention {

// Throws LayoutError naming the first layer the CUDA model cannot run, and why.
void check_runs_on_cuda(const AttentionPlan& plan);

}  // namespace strata::attention
