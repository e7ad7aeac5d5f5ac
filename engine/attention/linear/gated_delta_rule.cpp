#include "engine/attention/linear/gated_delta_rule.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/attention/linear/state_ops.h"

namespace strata::attention::linear {

void gated_delta_recurrent(const DeltaRuleHead& h, float* state) {
  const int32_t d_k = h.d_k;
  const int32_t d_v = h.d_v;
  std::vector<float> delta(static_cast<size_t>(d_v));
  for (int64_t t = 0; t < h.n_tokens; ++t) {
    const float* k = h.k[t];
    const float* v = h.v[t];
    const float decay = std::exp(h.g[t][0]);
    const float beta = h.beta[t][0];
    scale_state(state, decay, d_k, d_v);
    // What the decayed state recalls for k, and the correction that moves it towards v.
    state_transpose_times(state, k, 1.0f, delta.data(), d_k, d_v);
    for (int32_t b = 0; b < d_v; ++b) delta[b] = beta * (v[b] - delta[b]);
    add_outer(state, 1.0f, k, delta.data(), d_k, d_v);
    state_transpose_times(state, h.q[t], 1.0f, h.out[t], d_k, d_v);
  }
}

void gated_delta_chunked(const DeltaRuleHead& h, int32_t chunk_size, float* state) {
  const int32_t d_k = h.d_k;
  const int32_t d_v = h.d_v;
  const int32_t c_max = chunk_size;
  std::vector<float> log_decay(static_cast<size_t>(c_max));           // G_i: cumulative g in the chunk
  std::vector<float> ut(static_cast<size_t>(c_max) * c_max);          // T = (I + A)^-1, lower
  std::vector<float> w(static_cast<size_t>(c_max) * d_k);             // W = T diag(beta e^G) K
  std::vector<float> u(static_cast<size_t>(c_max) * d_v);             // U = T diag(beta) V, then V_new
  std::vector<float> coeff(static_cast<size_t>(c_max));

  for (int64_t c0 = 0; c0 < h.n_tokens; c0 += c_max) {
    const int32_t n = static_cast<int32_t>(std::min<int64_t>(c_max, h.n_tokens - c0));
    auto k = [&](int32_t i) { return h.k[c0 + i]; };
    auto beta = [&](int32_t i) { return h.beta[c0 + i][0]; };
    float acc = 0.0f;
    for (int32_t i = 0; i < n; ++i) log_decay[i] = acc += h.g[c0 + i][0];

    // UT transform. With A[i][j] = beta_i exp(G_i - G_j) k_i.k_j (j < i), the corrections of the
    // chunk satisfy (I + A) V_new = diag(beta) V - diag(beta e^G) K S_0; T solves the system once
    // for both right-hand sides, independently of S_0. Row i by forward substitution:
    // T[i][j] = -sum_{m=j}^{i-1} A[i][m] T[m][j].
    for (int32_t i = 0; i < n; ++i) {
      float* t_row = ut.data() + static_cast<int64_t>(i) * c_max;
      for (int32_t m = 0; m < i; ++m) coeff[m] = beta(i) * std::exp(log_decay[i] - log_decay[m]) * dot(k(i), k(m), d_k);
      for (int32_t j = 0; j < i; ++j) {
        float s = 0.0f;
        for (int32_t m = j; m < i; ++m) s += coeff[m] * ut[static_cast<int64_t>(m) * c_max + j];
        t_row[j] = -s;
      }
      t_row[i] = 1.0f;
    }
    for (int32_t i = 0; i < n; ++i) {
      const float* t_row = ut.data() + static_cast<int64_t>(i) * c_max;
      float* w_i = w.data() + static_cast<int64_t>(i) * d_k;
      float* u_i = u.data() + static_cast<int64_t>(i) * d_v;
      std::fill(w_i, w_i + d_k, 0.0f);
      std::fill(u_i, u_i + d_v, 0.0f);
      for (int32_t j = 0; j <= i; ++j) {
        const float tb = t_row[j] * beta(j);
        axpy(tb * std::exp(log_decay[j]), k(j), w_i, d_k);
        axpy(tb, h.v[c0 + j], u_i, d_v);
      }
    }

    // The sequential part: V_new = U - W S_0, then outputs and the next state.
    for (int32_t i = 0; i < n; ++i) {
      float* u_i = u.data() + static_cast<int64_t>(i) * d_v;
      const float* w_i = w.data() + static_cast<int64_t>(i) * d_k;
      for (int32_t a = 0; a < d_k; ++a) axpy(-w_i[a], state + static_cast<int64_t>(a) * d_v, u_i, d_v);
    }
    // o_i = e^{G_i} S_0^T q_i + sum_{j<=i} e^{G_i - G_j} (q_i.k_j) V_new[j]
    for (int32_t i = 0; i < n; ++i) {
      const float* q = h.q[c0 + i];
      float* o = h.out[c0 + i];
      state_transpose_times(state, q, std::exp(log_decay[i]), o, d_k, d_v);
      for (int32_t j = 0; j <= i; ++j) {
        axpy(std::exp(log_decay[i] - log_decay[j]) * dot(q, k(j), d_k), u.data() + static_cast<int64_t>(j) * d_v, o, d_v);
      }
    }
    // S = e^{G_last} S_0 + sum_j e^{G_last - G_j} k_j V_new[j]^T
    const float last = log_decay[n - 1];
    scale_state(state, std::exp(last), d_k, d_v);
    for (int32_t j = 0; j < n; ++j) {
      add_outer(state, std::exp(last - log_decay[j]), k(j), u.data() + static_cast<int64_t>(j) * d_v, d_k, d_v);
    }
  }
}

}  // namespace strata::attention::linear
