// RoPE (adjacent pairs) on Q and K, fused with the write of K and V into their KV-cache pages.
#pragma once

#include <cuda_fp16.h>

namespace strata::cuda::kernels {

// One block per token; thread i rotates pair i of every head. Row t of qkv (qkv_stride floats)
// holds q [n_heads x head_dim], then k and v [n_kv_heads x head_dim] each: q is rotated in place,
// k rotated and v as is are written as fp16 to cache row slot[t] ([block x block_size + offset]
// of the layer's paged cache).
__global__ void rope_kv_write(float* __restrict__ qkv, const int* __restrict__ positions, const int* __restrict__ slots,
                              __half* __restrict__ k_cache, __half* __restrict__ v_cache, int qkv_stride, int n_heads,
                              int n_kv_heads, int head_dim, int rope_dim, float theta_scale_log2) {
  const int t = blockIdx.x;
  float* q = qkv + static_cast<size_t>(t) * qkv_stride;
  const float* k = q + static_cast<size_t>(n_heads) * head_dim;
  const float* v = k + static_cast<size_t>(n_kv_heads) * head_dim;
  const float pos = static_cast<float>(positions[t]);
  const size_t kv_row = static_cast<size_t>(n_kv_heads) * head_dim;
  const size_t slot = static_cast<size_t>(slots[t]);
  for (int i = threadIdx.x; i < head_dim / 2; i += blockDim.x) {
    float c = 1.0f, s = 0.0f;
    if (2 * i < rope_dim) {
      // theta = pos * base^(-2i/rope_dim)
      sincosf(pos * exp2f(theta_scale_log2 * static_cast<float>(i)), &s, &c);
    }
    for (int h = 0; h < n_heads; ++h) {
      float* p = q + static_cast<size_t>(h) * head_dim + 2 * i;
      const float x0 = p[0], x1 = p[1];
      p[0] = x0 * c - x1 * s;
      p[1] = x0 * s + x1 * c;
    }
    for (int h = 0; h < n_kv_heads; ++h) {
      const size_t src = static_cast<size_t>(h) * head_dim + 2 * i;
      const size_t dst = slot * kv_row + static_cast<size_t>(h) * head_dim + 2 * i;
      const float x0 = k[src], x1 = k[src + 1];
      k_cache[dst] = __float2half(x0 * c - x1 * s);
      k_cache[dst + 1] = __float2half(x0 * s + x1 * c);
      v_cache[dst] = __float2half(v[src]);
      v_cache[dst + 1] = __float2half(v[src + 1]);
    }
  }
}

}  // namespace strata::cuda::kernels
