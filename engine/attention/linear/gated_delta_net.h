// The linear-attention cell of a GatedDeltaNet layer (Qwen3-Next's linear layers) over a ragged
// batch: the short convolution of q, k, v with its rolling state, L2 normalisation of q and k
// (q also scaled by 1/sqrt(d_k)), beta = sigmoid(b), g = -exp(A_log) softplus(a + dt_bias),
// and the gated delta rule per value head, key heads shared by groups of value heads as
// Qwen3-Next repeats them. The projections around it, the gated RMSNorm and the output
// projection belong to the model.
//
// Each sequence's slot holds [n_v_heads][d_k][d_v] recurrent state, then [kernel - 1][channels]
// conv inputs, all fp32. Prefill tokens run the chunked form, a decode token the recurrence.
#pragma once

#include <cstdint>

#include "engine/attention/linear/gated_delta_rule.h"
#include "engine/attention/linear/linear_batch.h"
#include "engine/attention/linear/recurrent_state_store.h"
#include "engine/cpu/thread_pool.h"

namespace strata::attention::linear {

struct GatedDeltaNetShape {
  int32_t n_k_heads = 0;
  int32_t n_v_heads = 0;  // a multiple of n_k_heads
  int32_t d_k = 0;
  int32_t d_v = 0;
  int32_t conv_kernel = 4;
  int32_t chunk_size = kDeltaRuleChunkSize;

  int64_t key_dim() const { return static_cast<int64_t>(n_k_heads) * d_k; }
  int64_t value_dim() const { return static_cast<int64_t>(n_v_heads) * d_v; }
  int64_t conv_channels() const { return 2 * key_dim() + value_dim(); }  // q | k | v
  int64_t recurrent_floats() const { return static_cast<int64_t>(n_v_heads) * d_k * d_v; }
  int64_t conv_state_floats() const { return (conv_kernel - 1) * conv_channels(); }
  int64_t slot_floats() const { return recurrent_floats() + conv_state_floats(); }
};

// The layer's own parameters (not owned).
struct GatedDeltaNetWeights {
  const float* conv_weight = nullptr;  // [conv_channels][conv_kernel]
  const float* a_log = nullptr;        // [n_v_heads]
  const float* dt_bias = nullptr;      // [n_v_heads]
};

// One step's tensors, token-major over the plan's rows.
struct GatedDeltaNetStep {
  const float* mixed_qkv = nullptr;  // [rows][conv_channels]: q heads | k heads | v heads, before the conv
  const float* a = nullptr;          // [rows][n_v_heads]: decay input
  const float* b = nullptr;          // [rows][n_v_heads]: write-strength input
  float* out = nullptr;              // [rows][n_v_heads][d_v]
};

class GatedDeltaNetCell {
 public:
  // Throws std::invalid_argument for an impossible shape.
  GatedDeltaNetCell(GatedDeltaNetShape shape, GatedDeltaNetWeights weights);

  const GatedDeltaNetShape& shape() const { return shape_; }

  // Runs the step: reads and updates each sequence's slot (zeroing it first for a fresh one).
  // `slots` must hold shape().slot_floats() per slot and as many slots as the plan was made for.
  void run(const LinearBatchPlan& plan, const GatedDeltaNetStep& step, const StateSlots& slots,
           cpu::ThreadPool* pool = nullptr) const;

 private:
  GatedDeltaNetShape shape_;
  GatedDeltaNetWeights weights_;
};

}  // namespace strata::attention::linear
