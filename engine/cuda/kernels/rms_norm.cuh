// RMSNorm of the fp32 residual stream to bf16 (the next GEMM's input): one block per token.
// The residual adds happen in the GEMMs that produce them (beta = 1).
#pragma once

#include <cuda_bf16.h>

#include "engine/cuda/kernels/reduce.cuh"

namespace strata::cuda::kernels {

// out[t] = bf16(x[t] / rms(x[t]) * weight).
__global__ void rms_norm(const float* __restrict__ residual, const float* __restrict__ weight,
                         __nv_bfloat16* __restrict__ out, int dim, float eps) {
  const float* x = residual + static_cast<size_t>(blockIdx.x) * dim;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum_sq += x[i] * x[i];
  const float scale = rsqrtf(block_sum(sum_sq) / static_cast<float>(dim) + eps);
  __nv_bfloat16* o = out + static_cast<size_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = __float2bfloat16(x[i] * scale * weight[i]);
}

}  // namespace strata::cuda::kernels
