// The short causal depthwise convolution in front of a GatedDeltaNet cell (kernel 4 in
// Qwen3-Next), followed by SiLU, over one sequence's new tokens. Its rolling state holds the
// sequence's previous kernel - 1 inputs, so a prefill split anywhere gives the same outputs.
#pragma once

#include <cstdint>

#include "engine/attention/linear/head_rows.h"

namespace strata::attention::linear {

// x: n_tokens rows of `channels` inputs; weight: [channels][kernel], tap kernel - 1 on the
// newest input; conv_state: [kernel - 1][channels], oldest first (zeros for a fresh sequence),
// replaced by the last kernel - 1 inputs of (state, x); out: rows of `channels` outputs.
//   out[t][c] = silu(sum_i weight[c][i] * input[t - (kernel - 1) + i][c])
void causal_conv1d_silu(Rows x, int32_t n_tokens, int64_t channels, const float* weight, int32_t kernel,
                        float* conv_state, MutableRows out);

}  // namespace strata::attention::linear
