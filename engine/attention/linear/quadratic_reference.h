// The naive quadratic (attention-like) forms of the linear cells over a whole sequence, in
// double precision: every output is a weighted sum over all earlier tokens, the way one would
// write the cell on paper. Slow (O(n^2)) and only for checking the chunked and recurrent forms,
// here and against the GPU kernels later. Inputs and `state` as in the fp32 forms.
#pragma once

#include "engine/attention/linear/gated_delta_rule.h"
#include "engine/attention/linear/lightning_attention.h"

namespace strata::attention::linear {

// With G_i the cumulative log decay from the sequence start and S_0 the incoming state:
//   u_i = beta_i (v_i - e^{G_i} S_0^T k_i - sum_{j<i} e^{G_i - G_j} (k_i.k_j) u_j)
//   o_i = e^{G_i} S_0^T q_i + sum_{j<=i} e^{G_i - G_j} (q_i.k_j) u_j
//   S   = e^{G_last} S_0 + sum_j e^{G_last - G_j} k_j u_j^T
void gated_delta_quadratic(const DeltaRuleHead& head, float* state);

//   o_i = lambda^{i+1} S_0^T q_i + sum_{j<=i} lambda^{i-j} (q_i.k_j) v_j
//   S   = lambda^n S_0 + sum_j lambda^{n-1-j} k_j v_j^T
void lightning_quadratic(const HeadSequence& head, float slope, float* state);

}  // namespace strata::attention::linear
