// RMSNorm of the fp32 residual stream to bf16 (the next GEMM's input): one block per token.
// The residual adds happen in the GEMMs that produce them (beta = 1).
#pragma once

#include <cuda_bf16.h>

#include "engine/cuda/kernels/reduce.cuh"

#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

constexpr int kNormThreads = 1024;
constexpr int kNormCached = 4;  // elements per thread kept in registers between the two passes

// out[t] = bf16(x[t] / rms(x[t]) * weight). Every load of a row up to 4096 wide is issued at
// once and read once: this kernel is all latency at decode.
__global__ void __launch_bounds__(kNormThreads) rms_norm(const float* __restrict__ residual, const float* __restrict__ weight,
                                                         __nv_bfloat16* __restrict__ out, int dim, float eps) {
  wait_for_inputs();
  const float* x = residual + static_cast<size_t>(blockIdx.x) * dim;
  float cached[kNormCached];
  float sum_sq = 0.0f;
#pragma unroll
  for (int k = 0; k < kNormCached; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    cached[k] = i < dim ? x[i] : 0.0f;
    sum_sq += cached[k] * cached[k];
  }
  for (int i = threadIdx.x + kNormCached * kNormThreads; i < dim; i += kNormThreads) sum_sq += x[i] * x[i];
  const float scale = rsqrtf(block_sum(sum_sq) / static_cast<float>(dim) + eps);
  __nv_bfloat16* o = out + static_cast<size_t>(blockIdx.x) * dim;
#pragma unroll
  for (int k = 0; k < kNormCached; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    if (i < dim) o[i] = __float2bfloat16(cached[k] * scale * weight[i]);
  }
  for (int i = threadIdx.x + kNormCached * kNormThreads; i < dim; i += kNormThreads) {
    o[i] = __float2bfloat16(x[i] * scale * weight[i]);
  }
}

}  // namespace strata::cuda::kernels
