// y = x W^T (+ y) for one token (decode at batch 1): a GEMV that streams each bf16 weight row
// once with 16-byte loads, one warp per output row. At one token cuBLAS spends more time in
// launches and split-K reductions than in reading the weights; from two tokens on it is the
// faster. Staging x in shared memory, or fusing the RMSNorm or SwiGLU before it into this
// kernel, measured slower on the H100 at the 8B shape (docs/perf.md): the loads of the weights
// then wait for the staging.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "engine/cuda/kernels/reduce.cuh"

#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

constexpr int kLinearWarps = 8;

__device__ inline void unpack_bf16x8(const uint4& raw, float (&out)[8]) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(pairs[j]);
    out[2 * j] = f.x;
    out[2 * j + 1] = f.y;
  }
}

// in % 8 == 0; W rows and x 16-byte aligned.
__global__ void __launch_bounds__(32 * kLinearWarps) single_token_linear(const __nv_bfloat16* __restrict__ w,
                                                                          const __nv_bfloat16* __restrict__ x,
                                                                          float* __restrict__ y, int in, int out,
                                                                          bool accumulate) {
  wait_for_inputs();
  const int lane = threadIdx.x % 32;
  const int row = blockIdx.x * kLinearWarps + threadIdx.x / 32;
  if (row >= out) return;
  const __nv_bfloat16* w_row = w + static_cast<size_t>(row) * in;
  float acc = 0.0f;
#pragma unroll 4
  for (int i = lane * 8; i < in; i += 32 * 8) {
    float wf[8], xf[8];
    unpack_bf16x8(__ldg(reinterpret_cast<const uint4*>(w_row + i)), wf);
    unpack_bf16x8(*reinterpret_cast<const uint4*>(x + i), xf);
#pragma unroll
    for (int j = 0; j < 8; ++j) acc += wf[j] * xf[j];
  }
  const float sum = warp_sum(acc);
  if (lane == 0) y[row] = accumulate ? y[row] + sum : sum;
}

}  // namespace strata::cuda::kernels
