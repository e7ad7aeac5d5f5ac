// The gated delta rule of one head (Qwen3-Next's GatedDeltaNet core), over one sequence's new
// tokens, continuing from and updating `state` (S, d_k x d_v row-major, fp32). Per token t:
//   S <- exp(g_t) S;   S <- S + k_t (beta_t (v_t - S^T k_t))^T;   o_t = S^T q_t
// with q already L2-normalised and scaled by 1/sqrt(d_k), k L2-normalised, g_t <= 0 the log
// decay and beta_t in (0, 1) the write strength. The forms below compute the same thing.
#pragma once

#include <cstdint>

#include "engine/attention/linear/head_rows.h"

namespace strata::attention::linear {

struct DeltaRuleHead : HeadSequence {
  Rows g, beta;  // one value per row
};

// Token by token: the decode step (n_tokens = 1), and the ground truth of the other forms.
void gated_delta_recurrent(const DeltaRuleHead& head, float* state);

// Chunked-parallel prefill in the WY/UT form: inside each chunk of `chunk_size` tokens the
// delta corrections are solved by a unit lower-triangular system (UT transform) that does not
// depend on the incoming state, so only one small state product per chunk is sequential.
void gated_delta_chunked(const DeltaRuleHead& head, int32_t chunk_size, float* state);

inline constexpr int32_t kDeltaRuleChunkSize = 64;

}  // namespace strata::attention::linear
