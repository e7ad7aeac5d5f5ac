// RMSNorms: of the fp32 residual stream to bf16 (the next GEMM's input), of each q and k head
// (QK-norm), and of a block's output before its residual add (post-norms). Without post-norms
// the residual adds happen in the GEMMs that produce them (beta = 1).
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

// residual[t] += rmsnorm(y[t]) * weight: one block per token.
__global__ void __launch_bounds__(kNormThreads) norm_add(const float* __restrict__ y, const float* __restrict__ weight,
                                                         float* __restrict__ residual, int dim, float eps) {
  wait_for_inputs();
  const float* row = y + static_cast<size_t>(blockIdx.x) * dim;
  float* x = residual + static_cast<size_t>(blockIdx.x) * dim;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += kNormThreads) sum_sq += row[i] * row[i];
  const float scale = rsqrtf(block_sum(sum_sq) / static_cast<float>(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += kNormThreads) x[i] += row[i] * scale * weight[i];
}

// RMSNorm over each head of q (q_weight) and of k (k_weight), in place in the fused qkv rows:
// one warp per head.
__global__ void head_rms_norm(float* __restrict__ qkv, const float* __restrict__ q_weight, const float* __restrict__ k_weight,
                              int tokens, int qkv_stride, int n_heads, int n_kv_heads, int head_dim, float eps) {
  wait_for_inputs();
  const int heads = n_heads + n_kv_heads;
  const int item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (item >= tokens * heads) return;
  const int t = item / heads, head = item % heads;
  float* x = qkv + static_cast<size_t>(t) * qkv_stride + static_cast<size_t>(head) * head_dim;
  const float* weight = head < n_heads ? q_weight : k_weight;
  float sum_sq = 0.0f;
  for (int i = lane; i < head_dim; i += 32) sum_sq += x[i] * x[i];
  const float scale = rsqrtf(warp_sum(sum_sq) / static_cast<float>(head_dim) + eps);
  for (int i = lane; i < head_dim; i += 32) x[i] = x[i] * scale * weight[i];
}

}  // namespace strata::cuda::kernels
