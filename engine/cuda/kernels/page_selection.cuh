// block_topk's page selection (Quest-style), in three kernels:
// - page_bounds: the elementwise min and max of a completed block's keys, per KV head;
// - page_scores: a page's score for a query, max over the KV head's query heads of
//   sum_i max(q_i * min_i, q_i * max_i), spread over pages so that a single query fills the GPU
//   (16-byte loads, head_dim / 8 lanes a page);
// - select_pages: per (query, KV head), the sink and recent pages plus the best-scoring
//   candidates between, ties to the lower page, as an ascending page list (a radix select).
// engine/attention/page_selection.h is the definition; these compute exactly it, but for the
// order of the float sums of a score.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "engine/attention/page_selection.h"
#include "engine/cuda/kernels/block_select.cuh"
#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

// Bounds of one block: min then max, each n_kv_heads x head_dim fp16, at
// bounds[block * 2 * row + {0, row}] (row = n_kv_heads * head_dim).
// One CUDA block per completed cache block, a thread per pair of elements of a row. A separate
// kernel rather than part of rope_kv_write: a prefill step writes a block's rows from several
// CUDA blocks, so none of them sees the whole block.
__global__ void page_bounds(const __half* __restrict__ k_cache, const int* __restrict__ blocks, __half* __restrict__ bounds,
                            int row, int block_size) {
  wait_for_inputs();
  const size_t block = static_cast<size_t>(blocks[blockIdx.x]);
  const __half2* keys = reinterpret_cast<const __half2*>(k_cache + block * block_size * row);
  __half2* lo = reinterpret_cast<__half2*>(bounds + block * 2 * row);
  __half2* hi = lo + row / 2;
  for (int i = threadIdx.x; i < row / 2; i += blockDim.x) {
    __half2 mn = keys[i], mx = mn;
#pragma unroll 8
    for (int r = 1; r < block_size; ++r) {
      const __half2 k = keys[static_cast<size_t>(r) * (row / 2) + i];
      mn = __hmin2(mn, k);
      mx = __hmax2(mx, k);
    }
    lo[i] = mn;
    hi[i] = mx;
  }
}

struct PageSelectionArgs {
  const float* q;            // token t, head h at q[t * q_stride + h * head_dim] (post-RoPE, unscaled)
  const __half* bounds;      // the layer's page_bounds
  const int* block_tables;   // [rows x table_stride]
  const int* token_table;    // block-table row of each query token
  const int* token_keys;     // keys each token sees (its position + 1)
  float* scores;             // [tokens x n_kv_heads x max_pages]
  int* page_lists;           // [tokens x n_kv_heads x list_stride]: ascending pages
  int q_stride, n_heads, n_kv_heads, block_size, table_stride;
  int max_pages, list_stride;
  attention::PageBudget budget;
};

// P and K of token t.
__device__ inline int2 visible_and_read_pages(const int* token_keys, int t, int block_size, const attention::PageBudget& budget) {
  const int visible = attention::visible_pages(token_keys[t] - 1, block_size);
  return {visible, attention::pages_to_read(budget, visible)};
}

constexpr int kScoreWarps = 8;
constexpr int kScorePagesPerWarp = 8;  // loaded together, so several loads are in flight
constexpr int kScorePages = kScoreWarps * kScorePagesPerWarp;

// Grid (page chunks of kScorePages, KV heads, tokens). A lane takes 8 dimensions of a page (16
// bytes of its min and of its max), so a head's bounds span head_dim / 8 lanes and one load
// instruction of the warp covers 256 / head_dim pages; a warp's 8 pages are loaded before any is
// summed. Only the candidates of a token that selects (P > K) are scored.
template <int kHeadDim, int kGroup>
__global__ void __launch_bounds__(32 * kScoreWarps) page_scores(PageSelectionArgs a) {
  wait_for_inputs();
  constexpr int kLanesPerPage = kHeadDim / 8, kPagesPerLoad = 32 / kLanesPerPage;
  constexpr int kLoads = kScorePagesPerWarp / kPagesPerLoad;
  static_assert(kLanesPerPage <= 32 && kLoads >= 1, "head_dim 64 to 256");
  const int kv_head = blockIdx.y, t = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int slice = lane % kLanesPerPage;  // dimensions [8 * slice, 8 * slice + 8)
  const int2 pages = visible_and_read_pages(a.token_keys, t, a.block_size, a.budget);
  if (pages.x <= pages.y) return;
  const int first = a.budget.sink_pages + blockIdx.x * kScorePages + warp * kScorePagesPerWarp + lane / kLanesPerPage;
  const int end = pages.x - a.budget.recent_pages;
  if (first - lane / kLanesPerPage >= end) return;  // the whole warp
  const int group = a.n_heads / a.n_kv_heads;
  const int* table = a.block_tables + static_cast<size_t>(a.token_table[t]) * a.table_stride;
  const size_t row = static_cast<size_t>(a.n_kv_heads) * kHeadDim;
  uint4 lo[kLoads], hi[kLoads];
#pragma unroll
  for (int j = 0; j < kLoads; ++j) {
    const int page = min(first + j * kPagesPerLoad, end - 1);
    const __half* b = a.bounds + static_cast<size_t>(table[page]) * 2 * row + static_cast<size_t>(kv_head) * kHeadDim + slice * 8;
    lo[j] = *reinterpret_cast<const uint4*>(b);
    hi[j] = *reinterpret_cast<const uint4*>(b + row);
  }
  float q[kGroup][8];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    const float* qh = a.q + static_cast<size_t>(t) * a.q_stride + static_cast<size_t>(kv_head * group + h) * kHeadDim + slice * 8;
#pragma unroll
    for (int e = 0; e < 8; ++e) q[h][e] = h < group ? qh[e] : 0.0f;
  }
  float* scores = a.scores + (static_cast<size_t>(t) * a.n_kv_heads + kv_head) * a.max_pages;
#pragma unroll
  for (int j = 0; j < kLoads; ++j) {
    const __half2* mn = reinterpret_cast<const __half2*>(&lo[j]);
    const __half2* mx = reinterpret_cast<const __half2*>(&hi[j]);
    float best = -INFINITY;
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      float s = 0.0f;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 l = __half22float2(mn[e]), u = __half22float2(mx[e]);
        s += fmaxf(q[h][2 * e] * l.x, q[h][2 * e] * u.x) + fmaxf(q[h][2 * e + 1] * l.y, q[h][2 * e + 1] * u.y);
      }
#pragma unroll
      for (int offset = kLanesPerPage / 2; offset > 0; offset >>= 1) s += __shfl_xor_sync(0xffffffffu, s, offset);
      if (h < group) best = fmaxf(best, s);
    }
    const int page = first + j * kPagesPerLoad;
    if (slice == 0 && page < end) scores[page] = best;
  }
}

// Grid (KV heads, tokens), kSelectThreads threads, dynamic shared memory of max_pages keys.
// The K - sinks - recent best candidates by a radix select (four passes of 8 bits over the
// candidates' keys in shared memory find the K'-th largest key T and how many of the keys equal
// to T to take), then an ordered compaction (one block scan per 256 candidates) writes them in
// page order, the lowest pages of those equal to T first.
__global__ void __launch_bounds__(kSelectThreads) select_pages(PageSelectionArgs a) {
  wait_for_inputs();
  extern __shared__ uint32_t keys[];
  __shared__ int histogram[256];
  __shared__ uint32_t prefix_s;
  __shared__ int remaining_s;
  const int kv_head = blockIdx.x, t = blockIdx.y;
  const int2 pages = visible_and_read_pages(a.token_keys, t, a.block_size, a.budget);
  const int n_pages = pages.x, budget = pages.y;
  int* list = a.page_lists + (static_cast<size_t>(t) * a.n_kv_heads + kv_head) * a.list_stride;
  if (n_pages <= budget) {
    for (int p = threadIdx.x; p < n_pages; p += blockDim.x) list[p] = p;
    return;
  }
  const int sinks = a.budget.sink_pages, recent = a.budget.recent_pages;
  for (int p = threadIdx.x; p < sinks; p += blockDim.x) list[p] = p;
  for (int p = threadIdx.x; p < recent; p += blockDim.x) list[budget - recent + p] = n_pages - recent + p;
  const int n_candidates = n_pages - sinks - recent, wanted = budget - sinks - recent;
  if (wanted <= 0) return;
  const float* scores = a.scores + (static_cast<size_t>(t) * a.n_kv_heads + kv_head) * a.max_pages + sinks;
  constexpr int kBatch = 8;  // loads in flight per thread
  for (int base = 0; base < n_candidates; base += kBatch * kSelectThreads) {
    float batch[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int i = base + j * kSelectThreads + threadIdx.x;
      batch[j] = i < n_candidates ? scores[i] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int i = base + j * kSelectThreads + threadIdx.x;
      if (i < n_candidates) keys[i] = order_key(batch[j]);
    }
  }

  uint32_t prefix = 0, mask = 0;
  int remaining = wanted;  // of the keys matching the prefix, how many of the largest to take
  for (int shift = 24; shift >= 0; shift -= 8) {
    histogram[threadIdx.x] = 0;
    __syncthreads();
    // Scores of one magnitude share their top byte: the lanes of a bin add once, together.
    for (int base = 0; base < n_candidates; base += blockDim.x) {
      const int i = base + threadIdx.x;
      const bool counted = i < n_candidates && (keys[i] & mask) == prefix;
      const int bin = counted ? static_cast<int>((keys[i] >> shift) & 255) : -1;
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (counted && __ffs(peers) - 1 == static_cast<int>(threadIdx.x % 32)) atomicAdd(&histogram[bin], __popc(peers));
    }
    __syncthreads();
    // Thread i takes digit 255 - i: the scan counts the keys of larger digits.
    const int digit = 255 - static_cast<int>(threadIdx.x), count = histogram[digit];
    int total;
    const int larger = block_exclusive_scan(count, &total);
    if (larger < remaining && larger + count >= remaining) {
      prefix_s = prefix | (static_cast<uint32_t>(digit) << shift);
      remaining_s = remaining - larger;
    }
    __syncthreads();
    prefix = prefix_s;
    remaining = remaining_s;
    mask |= 255u << shift;
  }
  // prefix is T; `remaining` of the keys equal to T are taken.
  int above_before = 0, equal_before = 0;
  for (int base = 0; base < n_candidates; base += blockDim.x) {
    const int i = base + threadIdx.x;
    const uint32_t key = i < n_candidates ? keys[i] : 0;
    const bool above = i < n_candidates && key > prefix, equal = i < n_candidates && key == prefix;
    int total;
    const int before = block_exclusive_scan((above ? 1 << 16 : 0) + (equal ? 1 : 0), &total);
    const int above_rank = above_before + (before >> 16), equal_rank = equal_before + (before & 0xffff);
    if (above || (equal && equal_rank < remaining)) list[sinks + above_rank + min(equal_rank, remaining)] = sinks + i;
    above_before += total >> 16;
    equal_before += total & 0xffff;
  }
}

}  // namespace strata::cuda::kernels
