// Device-side fills: random weights for synthetic models, constants.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "engine/common/mix64.h"

namespace strata::cuda::kernels {

// out[i] = bf16(uniform(-scale, scale)) drawn from (seed, i): each element its own counter, so
// the values do not depend on the launch shape.
__global__ void fill_uniform_bf16(__nv_bfloat16* __restrict__ out, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float unit = static_cast<float>(mix64(seed + 0x9e3779b97f4a7c15ull * (i + 1)) >> 40) * (1.0f / 16777216.0f);
    out[i] = __float2bfloat16((2.0f * unit - 1.0f) * scale);
  }
}

__global__ void fill_f32(float* __restrict__ out, size_t n, float value) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    out[i] = value;
  }
}

}  // namespace strata::cuda::kernels
