// Which resolved plans a device can run. The CPU runs every registered backend; the CUDA model
// runs backends that declare runs_on_cuda, on paged_kv and window_kv cache groups (one KV pool
// and one block table per group): every earlier key, a window with or without sink keys
// (`sink_window`, and trained sliding windows as masks or with their pages released), and
// block_topk layers that score their own pages; not yet per-head windows or a block_topk layer
// reusing another's selection.
#pragma once

#include "engine/attention/attention_plan.h"

namespace strata::attention {

// Throws LayoutError naming the first layer the CUDA model cannot run, and why.
void check_runs_on_cuda(const AttentionPlan& plan);

}  // namespace strata::attention
