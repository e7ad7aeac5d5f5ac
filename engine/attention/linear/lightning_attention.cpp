#include "engine/attention/linear/lightning_attention.h"

#include <algorithm>
#include <cmath>

#include "engine/attention/linear/state_ops.h"

namespace strata::attention::linear {

void lightning_recurrent(const HeadSequence& h, float slope, float* state) {
  const float decay = std::exp(-slope);
  for (int64_t t = 0; t < h.n_tokens; ++t) {
    scale_state(state, decay, h.d_k, h.d_v);
    add_outer(state, 1.0f, h.k[t], h.v[t], h.d_k, h.d_v);
    state_transpose_times(state, h.q[t], 1.0f, h.out[t], h.d_k, h.d_v);
  }
}

void lightning_chunked(const HeadSequence& h, float slope, int32_t block_size, float* state) {
  const int32_t d_k = h.d_k;
  const int32_t d_v = h.d_v;
  for (int64_t c0 = 0; c0 < h.n_tokens; c0 += block_size) {
    const int32_t n = static_cast<int32_t>(std::min<int64_t>(block_size, h.n_tokens - c0));
    // o_i = e^{-s (i+1)} S_0^T q_i + sum_{j<=i} e^{-s (i-j)} (q_i.k_j) v_j
    for (int32_t i = 0; i < n; ++i) {
      const float* q = h.q[c0 + i];
      float* o = h.out[c0 + i];
      state_transpose_times(state, q, std::exp(-slope * static_cast<float>(i + 1)), o, d_k, d_v);
      for (int32_t j = 0; j <= i; ++j) {
        axpy(std::exp(-slope * static_cast<float>(i - j)) * dot(q, h.k[c0 + j], d_k), h.v[c0 + j], o, d_v);
      }
    }
    // S = e^{-s n} S_0 + sum_j e^{-s (n-1-j)} k_j v_j^T
    scale_state(state, std::exp(-slope * static_cast<float>(n)), d_k, d_v);
    for (int32_t j = 0; j < n; ++j) {
      add_outer(state, std::exp(-slope * static_cast<float>(n - 1 - j)), h.k[c0 + j], h.v[c0 + j], d_k, d_v);
    }
  }
}

}  // namespace strata::attention::linear
