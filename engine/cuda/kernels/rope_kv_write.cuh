// RoPE (adjacent pairs) on Q and K, fused with the write of K and V into their KV-cache pages.
#pragma once

#include <cuda_fp16.h>

#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

// One block per token, one thread per (head, pair) of q, k and v: every load independent of
// the others. Row t of qkv (qkv_stride floats) holds q [n_heads x head_dim], then k and v
// [n_kv_heads x head_dim] each: q is rotated in place, k rotated and v as is are written as fp16
// to cache row slot[t] ([block x block_size + offset] of the layer's paged cache).
__global__ void rope_kv_write(float* __restrict__ qkv, const int* __restrict__ positions, const int* __restrict__ slots,
                              __half* __restrict__ k_cache, __half* __restrict__ v_cache, int qkv_stride, int n_heads,
                              int n_kv_heads, int head_dim, int rope_dim, float theta_scale_log2) {
  wait_for_inputs();
  const int t = blockIdx.x;
  const float pos = static_cast<float>(positions[t]);
  const int pairs = head_dim / 2;
  float* row = qkv + static_cast<size_t>(t) * qkv_stride;
  const size_t cache_row = static_cast<size_t>(slots[t]) * n_kv_heads * head_dim;
  for (int item = threadIdx.x; item < (n_heads + 2 * n_kv_heads) * pairs; item += blockDim.x) {
    const int head = item / pairs, i = item % pairs;
    float* p = row + static_cast<size_t>(head) * head_dim + 2 * i;  // q, then k, then v heads
    const float x0 = p[0], x1 = p[1];
    if (head >= n_heads + n_kv_heads) {
      const size_t dst = cache_row + static_cast<size_t>(head - n_heads - n_kv_heads) * head_dim + 2 * i;
      v_cache[dst] = __float2half(x0);
      v_cache[dst + 1] = __float2half(x1);
      continue;
    }
    float c = 1.0f, s = 0.0f;
    if (2 * i < rope_dim) sincosf(pos * exp2f(theta_scale_log2 * static_cast<float>(i)), &s, &c);  // base^(-2i/rope_dim)
    const float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
    if (head < n_heads) {
      p[0] = r0;
      p[1] = r1;
    } else {
      const size_t dst = cache_row + static_cast<size_t>(head - n_heads) * head_dim + 2 * i;
      k_cache[dst] = __float2half(r0);
      k_cache[dst + 1] = __float2half(r1);
    }
  }
}

}  // namespace strata::cuda::kernels
