// Decayed linear attention of one head, lightning-attention style (MiniMax-Text-01): a fixed
// per-head decay lambda = exp(-slope). Over one sequence's new tokens, continuing from and
// updating `state` (S, d_k x d_v row-major, fp32). Per token t:
//   S <- lambda S + k_t v_t^T;   o_t = S^T q_t
// (q, k, v as the model hands them: MiniMax applies SiLU and no scale before the cell).
#pragma once

#include <cstdint>

#include "engine/attention/linear/head_rows.h"

namespace strata::attention::linear {

// Token by token: the decode step (n_tokens = 1), and the ground truth of the other forms.
void lightning_recurrent(const HeadSequence& head, float slope, float* state);

// Blocked prefill: inside a block of `block_size` tokens, decay-masked attention (intra);
// across blocks, the incoming state read through the query decay (inter); one state update
// per block.
void lightning_chunked(const HeadSequence& head, float slope, int32_t block_size, float* state);

inline constexpr int32_t kLightningBlockSize = 64;

}  // namespace strata::attention::linear
