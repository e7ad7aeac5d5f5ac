#include "engine/attention/linear/quadratic_reference.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace strata::attention::linear {
namespace {

double dot(const float* a, const float* b, int32_t n) {
  double s = 0.0;
  for (int32_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// S_0^T x in double.
std::vector<double> initial_recall(const float* state, const float* x, int32_t d_k, int32_t d_v) {
  std::vector<double> r(static_cast<size_t>(d_v), 0.0);
  for (int32_t a = 0; a < d_k; ++a) {
    for (int32_t b = 0; b < d_v; ++b) r[b] += static_cast<double>(x[a]) * state[static_cast<int64_t>(a) * d_v + b];
  }
  return r;
}

// state = decay * state + sum_j weight[j] k_j value_j^T, with value_j of d_v doubles.
void write_final_state(float* state, double decay, const std::vector<double>& weight, const Rows& k,
                       const std::vector<std::vector<double>>& value, int32_t d_k, int32_t d_v) {
  for (int32_t a = 0; a < d_k; ++a) {
    for (int32_t b = 0; b < d_v; ++b) {
      double s = decay * state[static_cast<int64_t>(a) * d_v + b];
      for (size_t j = 0; j < value.size(); ++j) s += weight[j] * k[static_cast<int64_t>(j)][a] * value[j][b];
      state[static_cast<int64_t>(a) * d_v + b] = static_cast<float>(s);
    }
  }
}

}  // namespace

void gated_delta_quadratic(const DeltaRuleHead& h, float* state) {
  const int32_t n = h.n_tokens;
  std::vector<double> log_decay(static_cast<size_t>(n));
  double acc = 0.0;
  for (int32_t i = 0; i < n; ++i) log_decay[i] = acc += h.g[i][0];

  std::vector<std::vector<double>> u(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    const std::vector<double> recall = initial_recall(state, h.k[i], h.d_k, h.d_v);
    std::vector<double>& u_i = u[i];
    u_i.assign(static_cast<size_t>(h.d_v), 0.0);
    for (int32_t b = 0; b < h.d_v; ++b) u_i[b] = h.v[i][b] - std::exp(log_decay[i]) * recall[b];
    for (int32_t j = 0; j < i; ++j) {
      const double w = std::exp(log_decay[i] - log_decay[j]) * dot(h.k[i], h.k[j], h.d_k);
      for (int32_t b = 0; b < h.d_v; ++b) u_i[b] -= w * u[j][b];
    }
    for (double& x : u_i) x *= h.beta[i][0];
  }
  for (int32_t i = 0; i < n; ++i) {
    const std::vector<double> recall = initial_recall(state, h.q[i], h.d_k, h.d_v);
    for (int32_t b = 0; b < h.d_v; ++b) {
      double o = std::exp(log_decay[i]) * recall[b];
      for (int32_t j = 0; j <= i; ++j) o += std::exp(log_decay[i] - log_decay[j]) * dot(h.q[i], h.k[j], h.d_k) * u[j][b];
      h.out[i][b] = static_cast<float>(o);
    }
  }
  const double last = n > 0 ? log_decay[n - 1] : 0.0;
  std::vector<double> weight(static_cast<size_t>(n));
  for (int32_t j = 0; j < n; ++j) weight[j] = std::exp(last - log_decay[j]);
  write_final_state(state, std::exp(last), weight, h.k, u, h.d_k, h.d_v);
}

void lightning_quadratic(const HeadSequence& h, float slope, float* state) {
  const int32_t n = h.n_tokens;
  std::vector<std::vector<double>> v(static_cast<size_t>(n));
  for (int32_t j = 0; j < n; ++j) v[j].assign(h.v[j], h.v[j] + h.d_v);
  for (int32_t i = 0; i < n; ++i) {
    const std::vector<double> recall = initial_recall(state, h.q[i], h.d_k, h.d_v);
    for (int32_t b = 0; b < h.d_v; ++b) {
      double o = std::exp(-static_cast<double>(slope) * (i + 1)) * recall[b];
      for (int32_t j = 0; j <= i; ++j) o += std::exp(-static_cast<double>(slope) * (i - j)) * dot(h.q[i], h.k[j], h.d_k) * v[j][b];
      h.out[i][b] = static_cast<float>(o);
    }
  }
  std::vector<double> weight(static_cast<size_t>(n));
  for (int32_t j = 0; j < n; ++j) weight[j] = std::exp(-static_cast<double>(slope) * (n - 1 - j));
  write_final_state(state, std::exp(-static_cast<double>(slope) * n), weight, h.k, v, h.d_k, h.d_v);
}

}  // namespace strata::attention::linear
