// RoPE on Q and K, fused with the write of K and V into their KV-cache pages.
#pragma once

#include <cuda_fp16.h>

#include "engine/cuda/kernels/dependent_launch.cuh"
#include "engine/cuda/kernels/rope.cuh"

namespace strata::cuda::kernels {

// One block per token, one thread per pair of q, k and v: every load independent of the others.
// Row t of qkv (qkv_stride floats) holds q [n_heads x head_dim], then k and v [n_kv_heads x
// head_dim] each; the token's cache row is slot[t] ([block x block_size + offset] of the
// layer's paged cache).
__global__ void rope_kv_write(float* __restrict__ qkv, const int* __restrict__ positions, const int* __restrict__ slots,
                              __half* __restrict__ k_cache, __half* __restrict__ v_cache, RopeArgs a) {
  wait_for_inputs();
  const int t = blockIdx.x;
  const float position = static_cast<float>(positions[t]);
  const int slot = slots[t];
  float* row = qkv + static_cast<size_t>(t) * a.qkv_stride;
  for (int item = threadIdx.x; item < rope_pairs_per_row(a); item += blockDim.x) {
    const RopePair p = rope_pair(a, item);
    rope_store_pair(a, p, row[p.first], row[p.second], position, slot, row, k_cache, v_cache);
  }
}

}  // namespace strata::cuda::kernels
