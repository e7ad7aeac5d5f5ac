// Pieces of the radix selects (block_topk's pages, page_selection.cuh; evict's kept keys,
// key_eviction.cuh): a block-wide prefix sum and floats as ordered unsigned keys.
#pragma once

#include <cstdint>

namespace strata::cuda::kernels {

constexpr int kSelectThreads = 256;

// Exclusive prefix sum over the block (kSelectThreads threads); *total gets the sum.
__device__ inline int block_exclusive_scan(int v, int* total) {
  __shared__ int warp_totals[kSelectThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int inclusive = v;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int other = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  if (lane == 31) warp_totals[warp] = inclusive;
  __syncthreads();
  int before = 0, sum = 0;
  for (int w = 0; w < kSelectThreads / 32; ++w) {
    if (w < warp) before += warp_totals[w];
    sum += warp_totals[w];
  }
  __syncthreads();  // warp_totals may be reused by the next call
  *total = sum;
  return before + inclusive - v;
}

// A float's bits as an unsigned key of the same order (-0 as +0, so the two tie).
__device__ inline uint32_t order_key(float f) {
  const uint32_t bits = __float_as_uint(f == 0.0f ? 0.0f : f);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

// order_key's inverse (-0 comes back as +0).
__device__ inline float from_order_key(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) != 0 ? key & 0x7fffffffu : ~key);
}

}  // namespace strata::cuda::kernels
