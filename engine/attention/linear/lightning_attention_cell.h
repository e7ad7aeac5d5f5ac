// The linear-attention cell of a lightning-attention layer (MiniMax-Text-01's linear layers)
// over a ragged batch: per head, decayed linear attention with the head's fixed slope. The
// activation of q, k, v, the output norm and gate and the projections belong to the model.
//
// Each sequence's slot holds [n_heads][d_k][d_v] fp32 state. Prefill tokens run the blocked
// form, a decode token the recurrence.
#pragma once

#include <cstdint>

#include "engine/attention/linear/head_rows.h"
#include "engine/attention/linear/lightning_attention.h"
#include "engine/attention/linear/linear_batch.h"
#include "engine/attention/linear/recurrent_state_store.h"
#include "engine/cpu/thread_pool.h"

namespace strata::attention::linear {

struct LightningShape {
  int32_t n_heads = 0;
  int32_t d_k = 0;
  int32_t d_v = 0;
  int32_t block_size = kLightningBlockSize;

  int64_t slot_floats() const { return static_cast<int64_t>(n_heads) * d_k * d_v; }
};

// One step's tensors over the plan's rows; any head layout (MiniMax interleaves q, k, v per
// head in one projection: head_stride 3 d, k at +d, v at +2d).
struct LightningStep {
  TokenHeads q, k, v;
  float* out = nullptr;  // [rows][n_heads][d_v]
};

class LightningAttentionCell {
 public:
  // `slopes`: [n_heads], the per-head decay rates (lambda_h = exp(-slope_h)), not owned.
  // Throws std::invalid_argument for an impossible shape.
  LightningAttentionCell(LightningShape shape, const float* slopes);

  const LightningShape& shape() const { return shape_; }

  // Runs the step: reads and updates each sequence's slot (zeroing it first for a fresh one).
  void run(const LinearBatchPlan& plan, const LightningStep& step, const StateSlots& slots,
           cpu::ThreadPool* pool = nullptr) const;

 private:
  LightningShape shape_;
  const float* slopes_;
};

}  // namespace strata::attention::linear
