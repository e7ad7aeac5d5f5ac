// Causal GQA attention of query tokens over a paged fp16 KV cache, one block per (head, token):
// each warp walks a strided share of the keys with an online softmax, then the warps merge.
// Correct for prefill and decode alike; the tensor-core prefill and split-KV decode kernels of
// the "full" backend replace it on the fast paths.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/cuda/kernels/reduce.cuh"

namespace strata::cuda::kernels {

constexpr int kAttentionWarps = 4;

struct PagedAttentionArgs {
  const float* q;              // [tokens x n_heads x head_dim]
  const __half* k_cache;       // the layer's [blocks x block_size x n_kv_heads x head_dim]
  const __half* v_cache;
  const int* block_tables;     // [sequences x max_blocks]
  const int* token_sequence;   // sequence of each query token
  const int* token_keys;       // keys each token attends to (its position + 1)
  __nv_bfloat16* out;          // like q
  float* lse;                  // [tokens x n_heads] log-sum-exp of the scaled scores, or null
  int n_heads, n_kv_heads, block_size, max_blocks;
  float scale;
};

template <int kHeadDim>
__global__ void __launch_bounds__(32 * kAttentionWarps) paged_attention(PagedAttentionArgs a) {
  static_assert(kHeadDim % 32 == 0, "head_dim must be a multiple of 32");
  constexpr int kPerLane = kHeadDim / 32;
  const int head = blockIdx.x, t = blockIdx.y;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int kv_head = head / (a.n_heads / a.n_kv_heads);
  const int n_keys = a.token_keys[t];
  const int* table = a.block_tables + static_cast<size_t>(a.token_sequence[t]) * a.max_blocks;
  const size_t row = static_cast<size_t>(a.n_kv_heads) * kHeadDim;

  float q[kPerLane];
  const float* qh = a.q + (static_cast<size_t>(t) * a.n_heads + head) * kHeadDim + lane * kPerLane;
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) q[e] = qh[e] * a.scale;

  float m = -INFINITY, l = 0.0f, acc[kPerLane] = {};
  for (int key = warp; key < n_keys; key += kAttentionWarps) {
    const size_t offset = (static_cast<size_t>(table[key / a.block_size]) * a.block_size + key % a.block_size) * row +
                          static_cast<size_t>(kv_head) * kHeadDim + lane * kPerLane;
    float partial = 0.0f;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) partial += q[e] * __half2float(a.k_cache[offset + e]);
    const float score = warp_sum(partial);
    const float m_new = fmaxf(m, score);
    const float correction = __expf(m - m_new), p = __expf(score - m_new);
    l = l * correction + p;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) acc[e] = acc[e] * correction + p * __half2float(a.v_cache[offset + e]);
    m = m_new;
  }

  // Merge the warps' partial softmaxes.
  __shared__ float warp_m[kAttentionWarps], warp_l[kAttentionWarps];
  __shared__ float warp_acc[kAttentionWarps][kHeadDim];
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) warp_acc[warp][lane * kPerLane + e] = acc[e];
  __syncthreads();
  float m_all = -INFINITY;
  for (int w = 0; w < kAttentionWarps; ++w) m_all = fmaxf(m_all, warp_m[w]);
  float l_all = 0.0f;
  for (int w = 0; w < kAttentionWarps; ++w) {
    if (warp_l[w] > 0.0f) l_all += warp_l[w] * __expf(warp_m[w] - m_all);
  }
  __nv_bfloat16* out = a.out + (static_cast<size_t>(t) * a.n_heads + head) * kHeadDim;
  for (int d = threadIdx.x; d < kHeadDim; d += blockDim.x) {
    float sum = 0.0f;
    for (int w = 0; w < kAttentionWarps; ++w) {
      if (warp_l[w] > 0.0f) sum += warp_acc[w][d] * __expf(warp_m[w] - m_all);
    }
    out[d] = __float2bfloat16(sum / l_all);
  }
  if (a.lse != nullptr && threadIdx.x == 0) a.lse[static_cast<size_t>(t) * a.n_heads + head] = m_all + logf(l_all);
}

}  // namespace strata::cuda::kernels
