// RoPE of one pair of a fused qkv row, with the write of K and V into the token's cache row:
// the device helpers shared by rope_kv_write.cuh and the one-token projection that applies RoPE
// as it produces q, k and v (single_token_linear.cuh).
#pragma once

#include <cuda_fp16.h>

namespace strata::cuda::kernels {

struct RopeArgs {
  int qkv_stride, n_heads, n_kv_heads, head_dim, rope_dim;
  bool halves;            // pair (i, i + rope_dim/2) rather than (2i, 2i + 1)
  float theta_scale_log2;  // log2(base^(-2/rope_dim))
  float freq_scale;        // linear RoPE scaling
  float q_scale;           // q is multiplied by this after the rotation (1 = untouched)
};

// Pair `item` of a qkv row (q heads, then k heads, then v heads; head_dim / 2 pairs a head): the
// row offsets of its two values and its frequency index (>= rope_dim / 2: not rotated).
struct RopePair {
  int head, first, second, frequency;
};

__device__ inline RopePair rope_pair(const RopeArgs& a, int item) {
  const int pairs = a.head_dim / 2, rope_pairs = a.rope_dim / 2;
  const int head = item / pairs, i = item % pairs;
  RopePair p{head, 2 * i, 2 * i + 1, i};
  if (a.halves && i < rope_pairs) {
    p.first = i;
    p.second = i + rope_pairs;
  }
  p.first += head * a.head_dim;
  p.second += head * a.head_dim;
  return p;
}

__host__ __device__ inline int rope_pairs_per_row(const RopeArgs& a) {
  return (a.n_heads + 2 * a.n_kv_heads) * (a.head_dim / 2);
}

// The pair's values x0, x1 of a token at `position`: q rotated and scaled into row (the token's
// qkv row), k rotated and v as is written as fp16 into cache row `slot`.
__device__ inline void rope_store_pair(const RopeArgs& a, const RopePair& p, float x0, float x1, float position, int slot,
                                       float* __restrict__ row, __half* __restrict__ k_cache, __half* __restrict__ v_cache) {
  const size_t cache_row = static_cast<size_t>(slot) * a.n_kv_heads * a.head_dim;
  const int q_dim = a.n_heads * a.head_dim, kv_dim = a.n_kv_heads * a.head_dim;
  if (p.head >= a.n_heads + a.n_kv_heads) {
    v_cache[cache_row + p.first - q_dim - kv_dim] = __float2half(x0);
    v_cache[cache_row + p.second - q_dim - kv_dim] = __float2half(x1);
    return;
  }
  float c = 1.0f, s = 0.0f;
  if (p.frequency < a.rope_dim / 2) {
    sincosf(a.freq_scale * position * exp2f(a.theta_scale_log2 * static_cast<float>(p.frequency)), &s, &c);
  }
  const float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
  if (p.head < a.n_heads) {
    row[p.first] = r0 * a.q_scale;
    row[p.second] = r1 * a.q_scale;
  } else {
    k_cache[cache_row + p.first - q_dim] = __float2half(r0);
    k_cache[cache_row + p.second - q_dim] = __float2half(r1);
  }
}

}  // namespace strata::cuda::kernels
