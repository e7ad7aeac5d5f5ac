#include "engine/attention/linear/causal_conv1d.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace strata::attention::linear {

void causal_conv1d_silu(Rows x, int32_t n_tokens, int64_t channels, const float* weight, int32_t kernel,
                        float* conv_state, MutableRows out) {
  const int32_t history = kernel - 1;
  // Input p of the stream (state rows first, then x): p < history reads the state.
  const std::vector<float> old_state(conv_state, conv_state + history * channels);
  auto input = [&](int64_t p) { return p < history ? old_state.data() + p * channels : x[p - history]; };

  for (int64_t t = 0; t < n_tokens; ++t) {
    float* o = out[t];
    for (int64_t c = 0; c < channels; ++c) {
      float acc = 0.0f;
      for (int32_t i = 0; i < kernel; ++i) acc += weight[c * kernel + i] * input(t + i)[c];
      o[c] = acc / (1.0f + std::exp(-acc));
    }
  }
  for (int32_t r = 0; r < history; ++r) {
    const float* src = input(n_tokens + r);
    std::copy(src, src + channels, conv_state + r * channels);
  }
}

}  // namespace strata::attention::linear
