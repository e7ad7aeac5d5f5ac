// RMSNorm fused with the residual add: one block per token.
#pragma once

#include <cuda_bf16.h>

#include "engine/cuda/kernels/reduce.cuh"

namespace strata::cuda::kernels {

// residual[t] += delta[t] (when delta is given), then out[t] = bf16(residual[t] / rms * weight).
__global__ void rms_norm_residual(float* __restrict__ residual, const float* __restrict__ delta,
                                  const float* __restrict__ weight, __nv_bfloat16* __restrict__ out, int dim, float eps) {
  float* x = residual + static_cast<size_t>(blockIdx.x) * dim;
  const float* d = delta != nullptr ? delta + static_cast<size_t>(blockIdx.x) * dim : nullptr;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = x[i];
    if (d != nullptr) {
      v += d[i];
      x[i] = v;
    }
    sum_sq += v * v;
  }
  const float scale = rsqrtf(block_sum(sum_sq) / static_cast<float>(dim) + eps);
  __nv_bfloat16* o = out + static_cast<size_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = __float2bfloat16(x[i] * scale * weight[i]);
}

}  // namespace strata::cuda::kernels
