// Which resolved plans a device can run. The CPU runs every registered backend; the CUDA model
// runs backends that declare runs_on_cuda, on paged_kv, window_kv and evicting_kv cache groups
// (one KV pool and one block table per group): every earlier key, a window with or without sink
// keys (`sink_window`, and trained sliding windows as masks or with their pages released),
// block_topk layers, scoring their own pages or reusing an earlier layer's choice, and `evict`;
// not yet per-head windows or `linear`.
#pragma once

#include "engine/attention/attention_plan.h"

namespace strata::attention {

// Throws LayoutError naming the first layer the CUDA model cannot run, and why.
void check_runs_on_cuda(const AttentionPlan& plan);

}  // namespace strata::attention
