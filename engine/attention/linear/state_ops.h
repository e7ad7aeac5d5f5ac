// The small vector and state products the CPU cells share (fp32, plain loops: these are
// reference kernels, the GPU ones come later).
#pragma once

#include <algorithm>
#include <cstdint>

namespace strata::attention::linear {

inline float dot(const float* a, const float* b, int32_t n) {
  float s = 0.0f;
  for (int32_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += a * x over n values.
inline void axpy(float a, const float* x, float* y, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// out = scale * S^T x for a state S of d_k x d_v, row-major.
inline void state_transpose_times(const float* state, const float* x, float scale, float* out, int32_t d_k, int32_t d_v) {
  std::fill(out, out + d_v, 0.0f);
  for (int32_t a = 0; a < d_k; ++a) axpy(scale * x[a], state + static_cast<int64_t>(a) * d_v, out, d_v);
}

// S *= factor over the whole d_k x d_v state.
inline void scale_state(float* state, float factor, int32_t d_k, int32_t d_v) {
  const int64_t n = static_cast<int64_t>(d_k) * d_v;
  for (int64_t i = 0; i < n; ++i) state[i] *= factor;
}

// S += c k v^T
inline void add_outer(float* state, float c, const float* k, const float* v, int32_t d_k, int32_t d_v) {
  for (int32_t a = 0; a < d_k; ++a) axpy(c * k[a], v, state + static_cast<int64_t>(a) * d_v, d_v);
}

}  // namespace strata::attention::linear
