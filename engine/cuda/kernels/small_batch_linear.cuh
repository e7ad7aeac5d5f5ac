// y = x W^T (+ beta y) for a few tokens (decode at small batch): a GEMV that streams each bf16
// weight row once with 16-byte loads, one warp per output row, every token's dot product
// accumulated from the same row bytes. cuBLAS spends more time in launches and split-K
// reductions than in reading the weights at these sizes. Each token's sum runs in the same
// order whatever the number of tokens, so results do not depend on the batch.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "engine/cuda/kernels/reduce.cuh"

namespace strata::cuda::kernels {

constexpr int kLinearWarps = 8;
constexpr int kMaxSmallBatch = 8;

__device__ inline void unpack_bf16x8(const uint4& raw, float (&out)[8]) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(pairs[j]);
    out[2 * j] = f.x;
    out[2 * j + 1] = f.y;
  }
}

// in % 8 == 0; rows of W and x 16-byte aligned.
template <int kTokens>
__global__ void __launch_bounds__(32 * kLinearWarps) small_batch_linear(const __nv_bfloat16* __restrict__ w,
                                                                         const __nv_bfloat16* __restrict__ x,
                                                                         float* __restrict__ y, int in, int out,
                                                                         bool accumulate) {
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * kLinearWarps + threadIdx.x / 32;
  if (row >= out) return;
  const __nv_bfloat16* w_row = w + static_cast<size_t>(row) * in;
  float acc[kTokens] = {};
#pragma unroll 4
  for (int i = lane * 8; i < in; i += 32 * 8) {
    float wf[8];
    unpack_bf16x8(__ldg(reinterpret_cast<const uint4*>(w_row + i)), wf);
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      float xf[8];
      unpack_bf16x8(*reinterpret_cast<const uint4*>(x + static_cast<size_t>(t) * in + i), xf);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[t] += wf[j] * xf[j];
    }
  }
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    const float sum = warp_sum(acc[t]);
    if (lane == 0) {
      float* out_value = y + static_cast<size_t>(t) * out + row;
      *out_value = accumulate ? *out_value + sum : sum;
    }
  }
}

}  // namespace strata::cuda::kernels
