// RoPE (adjacent pairs) on Q and K, fused with the write of K and V into their KV-cache pages.
#pragma once

#include <cuda_fp16.h>

#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

struct RopeArgs {
  int qkv_stride, n_heads, n_kv_heads, head_dim, rope_dim;
  bool halves;            // pair (i, i + rope_dim/2) rather than (2i, 2i + 1)
  float theta_scale_log2;  // log2(base^(-2/rope_dim))
  float freq_scale;        // linear RoPE scaling
  float q_scale;           // q is multiplied by this after the rotation (1 = untouched)
};

// One block per token, one thread per (head, pair) of q, k and v: every load independent of
// the others. Row t of qkv (qkv_stride floats) holds q [n_heads x head_dim], then k and v
// [n_kv_heads x head_dim] each: q is rotated (and scaled) in place, k rotated and v as is are
// written as fp16 to cache row slot[t] ([block x block_size + offset] of the layer's paged cache).
__global__ void rope_kv_write(float* __restrict__ qkv, const int* __restrict__ positions, const int* __restrict__ slots,
                              __half* __restrict__ k_cache, __half* __restrict__ v_cache, RopeArgs a) {
  wait_for_inputs();
  const int t = blockIdx.x;
  const float pos = static_cast<float>(positions[t]);
  const int pairs = a.head_dim / 2;
  float* row = qkv + static_cast<size_t>(t) * a.qkv_stride;
  const size_t cache_row = static_cast<size_t>(slots[t]) * a.n_kv_heads * a.head_dim;
  for (int item = threadIdx.x; item < (a.n_heads + 2 * a.n_kv_heads) * pairs; item += blockDim.x) {
    const int head = item / pairs, i = item % pairs;
    const int rope_pairs = a.rope_dim / 2;
    // Pair i: its two dimensions within the head, and its frequency index.
    int first = 2 * i, second = 2 * i + 1, frequency = i;
    if (a.halves && i < rope_pairs) {
      first = i;
      second = i + rope_pairs;
    } else if (a.halves) {  // beyond rope_dim: untouched pairs, in order
      first = 2 * i;
      second = 2 * i + 1;
    }
    float* p = row + static_cast<size_t>(head) * a.head_dim;  // q, then k, then v heads
    const float x0 = p[first], x1 = p[second];
    if (head >= a.n_heads + a.n_kv_heads) {
      const size_t dst = cache_row + static_cast<size_t>(head - a.n_heads - a.n_kv_heads) * a.head_dim;
      v_cache[dst + first] = __float2half(x0);
      v_cache[dst + second] = __float2half(x1);
      continue;
    }
    float c = 1.0f, s = 0.0f;
    if (frequency < rope_pairs) {
      sincosf(a.freq_scale * pos * exp2f(a.theta_scale_log2 * static_cast<float>(frequency)), &s, &c);
    }
    const float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
    if (head < a.n_heads) {
      p[first] = r0 * a.q_scale;
      p[second] = r1 * a.q_scale;
    } else {
      const size_t dst = cache_row + static_cast<size_t>(head - a.n_heads) * a.head_dim;
      k_cache[dst + first] = __float2half(r0);
      k_cache[dst + second] = __float2half(r1);
    }
  }
}

}  // namespace strata::cuda::kernels
