// y = f(x) W^T for one token (decode at batch 1): a GEMV that streams each bf16 weight row once
// with 16-byte loads, one warp per pair of output rows. At one token cuBLAS spends more time in
// launches and split-K reductions than in reading the weights; from two tokens on it is the
// faster.
//
// The input policy says what f(x) is: a bf16 row as is, or the RMSNorm of an fp32 row, staged
// as bf16 in shared memory by every block. The output policy says which two rows a warp computes
// and where their sums go: y (set or added to), the gated activation of a gate row and its up row
// (the feed-forward block's activation, no separate kernel), or RoPE with the write of K and V
// into their pages. Each warp issues its first weight loads before it waits for the kernel
// before it (programmatic dependent launch): the weights are nobody's output, so they stream
// while the previous kernel finishes and the input is staged.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "engine/cuda/kernels/dependent_launch.cuh"
#include "engine/cuda/kernels/reduce.cuh"
#include "engine/cuda/kernels/rope.cuh"

namespace strata::cuda::kernels {

constexpr int kLinearWarps = 8;
constexpr int kLinearPrefetch = 4;  // 16-byte chunks of each of its rows a lane loads before waiting
constexpr int kNormChunks = 4;      // float4s of the row each thread holds while it normalizes it
constexpr int kMaxNormIn = kNormChunks * 4 * 32 * kLinearWarps;  // the widest row RmsNormInput takes

// A 16-byte weight chunk. Weights are read once a step, so the load skips L1 and asks L2 to
// prefetch the 256 bytes around it (docs/perf.md: faster than __ldg, most at small models).
__device__ inline uint4 load_weight_chunk(const __nv_bfloat16* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}

__device__ inline void unpack_bf16x8(const uint4& raw, float (&out)[8]) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(pairs[j]);
    out[2 * j] = f.x;
    out[2 * j + 1] = f.y;
  }
}

// f(x) = x, a bf16 row read where it lies.
struct Bf16Input {
  const __nv_bfloat16* x;
  static constexpr bool kStaged = false;
  struct Early {};
  __device__ Early before_wait(int) const { return {}; }
  __device__ void stage(__nv_bfloat16*, int, const Early&) const {}
  __device__ uint4 chunk(const __nv_bfloat16*, int i) const { return *reinterpret_cast<const uint4*>(x + i); }
};

// f(x) = bf16(x / rms(x) * weight) for an fp32 row x, as the rms_norm kernel computes it. Each
// thread loads its part of the norm weight before the wait (weights are nobody's output) and
// holds its part of x in registers between the sum of squares and the scaling, so the staging
// waits on one round of loads.
struct RmsNormInput {
  const float* x;
  const float* weight;
  float eps;
  static constexpr bool kStaged = true;
  struct Early {
    float4 w[kNormChunks];
  };
  // in % 4 == 0 and in <= kMaxNormIn.
  __device__ Early before_wait(int in) const {
    Early early;
#pragma unroll
    for (int k = 0; k < kNormChunks; ++k) {
      const int i = (threadIdx.x + k * blockDim.x) * 4;
      if (i < in) early.w[k] = __ldg(reinterpret_cast<const float4*>(weight + i));
    }
    return early;
  }
  // Every thread of the block takes part (block_sum).
  __device__ void stage(__nv_bfloat16* staged, int in, const Early& early) const {
    float4 v[kNormChunks];
    float sum_sq = 0.0f;
#pragma unroll
    for (int k = 0; k < kNormChunks; ++k) {
      const int i = (threadIdx.x + k * blockDim.x) * 4;
      if (i < in) {
        v[k] = *reinterpret_cast<const float4*>(x + i);
        sum_sq += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
      }
    }
    const float scale = rsqrtf(block_sum(sum_sq) / static_cast<float>(in) + eps);
#pragma unroll
    for (int k = 0; k < kNormChunks; ++k) {
      const int i = (threadIdx.x + k * blockDim.x) * 4;
      if (i < in) {
        const float4 w = early.w[k];
        auto* out = reinterpret_cast<__nv_bfloat162*>(staged + i);
        out[0] = __floats2bfloat162_rn(v[k].x * scale * w.x, v[k].y * scale * w.y);
        out[1] = __floats2bfloat162_rn(v[k].z * scale * w.z, v[k].w * scale * w.w);
      }
    }
    __syncthreads();
  }
  __device__ uint4 chunk(const __nv_bfloat16* staged, int i) const { return *reinterpret_cast<const uint4*>(staged + i); }
};

// Rows (2p, 2p + 1) into y, set or added to (the residual add of the projection producing it).
struct RowsOutput {
  float* y;
  int out;
  bool accumulate;
  __device__ int pairs() const { return (out + 1) / 2; }
  __device__ int2 rows(int p) const { return {2 * p, min(2 * p + 1, out - 1)}; }
  __device__ void store(int p, float a, float b) const {
    y[2 * p] = accumulate ? y[2 * p] + a : a;
    if (2 * p + 1 < out) y[2 * p + 1] = accumulate ? y[2 * p + 1] + b : b;
  }
};

// Gate row p and up row n_ff + p of the fused gate/up weight: act[p] = bf16(act(gate) * up).
template <class Activation>
struct GatedOutput {
  __nv_bfloat16* act;
  int n_ff;
  __device__ int pairs() const { return n_ff; }
  __device__ int2 rows(int p) const { return {p, n_ff + p}; }
  __device__ void store(int p, float gate, float up) const { act[p] = __float2bfloat16(Activation::apply(gate) * up); }
};

// The qkv projection of one token with RoPE applied to each pair and K and V written to the
// token's cache row, as rope_kv_write does after a plain projection.
struct RopeKvOutput {
  float* qkv;
  const int* positions;
  const int* slots;
  __half* k_cache;
  __half* v_cache;
  RopeArgs args;
  __device__ int pairs() const { return rope_pairs_per_row(args); }
  __device__ int2 rows(int p) const {
    const RopePair pair = rope_pair(args, p);
    return {pair.first, pair.second};
  }
  __device__ void store(int p, float x0, float x1) const {
    rope_store_pair(args, rope_pair(args, p), x0, x1, static_cast<float>(positions[0]), slots[0], qkv, k_cache, v_cache);
  }
};

__device__ inline void accumulate_chunk(const uint4& w_raw, const float (&xf)[8], float& acc) {
  float wf[8];
  unpack_bf16x8(w_raw, wf);
#pragma unroll
  for (int j = 0; j < 8; ++j) acc += wf[j] * xf[j];
}

// in % 8 == 0; W rows and x 16-byte aligned. Dynamic shared memory: in bf16 when Input::kStaged.
template <class Input, class Output>
__global__ void __launch_bounds__(32 * kLinearWarps) single_token_linear(const __nv_bfloat16* __restrict__ w, int in,
                                                                          Input input, Output output) {
  extern __shared__ uint4 staged_chunks[];
  auto* staged = reinterpret_cast<__nv_bfloat16*>(staged_chunks);
  const int lane = threadIdx.x % 32;
  const int pair = blockIdx.x * kLinearWarps + threadIdx.x / 32;
  const bool active = pair < output.pairs();
  const int2 rows = active ? output.rows(pair) : int2{0, 0};
  const __nv_bfloat16* w0 = w + static_cast<size_t>(rows.x) * in;
  const __nv_bfloat16* w1 = w + static_cast<size_t>(rows.y) * in;
  uint4 first0[kLinearPrefetch], first1[kLinearPrefetch];
#pragma unroll
  for (int k = 0; k < kLinearPrefetch; ++k) {
    const int i = (lane + 32 * k) * 8;
    if (active && i < in) {
      first0[k] = load_weight_chunk(w0 + i);
      first1[k] = load_weight_chunk(w1 + i);
    }
  }
  const typename Input::Early early = input.before_wait(in);
  wait_for_inputs();
  if constexpr (Input::kStaged) input.stage(staged, in, early);
  if (!active) return;
  float acc0 = 0.0f, acc1 = 0.0f;
#pragma unroll
  for (int k = 0; k < kLinearPrefetch; ++k) {
    const int i = (lane + 32 * k) * 8;
    if (i < in) {
      float xf[8];
      unpack_bf16x8(input.chunk(staged, i), xf);
      accumulate_chunk(first0[k], xf, acc0);
      accumulate_chunk(first1[k], xf, acc1);
    }
  }
#pragma unroll 4
  for (int i = (lane + 32 * kLinearPrefetch) * 8; i < in; i += 32 * 8) {
    float xf[8];
    unpack_bf16x8(input.chunk(staged, i), xf);
    accumulate_chunk(load_weight_chunk(w0 + i), xf, acc0);
    accumulate_chunk(load_weight_chunk(w1 + i), xf, acc1);
  }
  const float sum0 = warp_sum(acc0), sum1 = warp_sum(acc1);
  if (lane == 0) output.store(pair, sum0, sum1);
}

}  // namespace strata::cuda::kernels
