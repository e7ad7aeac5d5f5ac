// The activations of the gated feed-forward block, as device policies.
#pragma once

namespace strata::cuda::kernels {

struct Silu {
  __device__ static float apply(float g) { return g / (1.0f + __expf(-g)); }
};

// GELU, tanh approximation (Gemma's GeGLU).
struct GeluTanh {
  __device__ static float apply(float g) {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    return 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g)));
  }
};

}  // namespace strata::cuda::kernels
