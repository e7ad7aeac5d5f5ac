// Causal GQA attention of query tokens over a paged fp16 KV cache, split over the keys
// (flash-decoding): one block per (KV head, token, split) serves every query head of the KV
// head's group, so each K/V row is read once per group. A warp takes 32 keys at a time, one key
// per lane for Q.K (no shuffles) and one dimension slice per lane for P.V. With more than one
// split, each writes its normalized partial output and log-sum-exp and merge_splits combines
// them exactly. Serves decode tokens and prefill tokens alike (each token sees its own keys).
// The keys of a (token, KV head) are one run of indices: all earlier keys, sink keys then a
// window, the pages of a list (block_topk's selection, page_selection.cuh), or an evicting
// sequence's kept keys then those written since (EvictRow).
// Batch invariance: a token's split boundaries depend on its own key count only, never on the
// batch or the grid, so its result is the same alone or in any batch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "engine/attention/page_selection.h"
#include "engine/cuda/eviction_inputs.h"
#include "engine/cuda/kernels/dependent_launch.cuh"
#include "engine/cuda/kernels/reduce.cuh"

namespace strata::cuda::kernels {

constexpr int kAttentionWarps = 8;
// Warps whose partial softmaxes shared memory holds at once: 4 keeps head_dim 256 with 8 query
// heads per KV head within the 48 KiB of static shared memory; the others fold into them first.
constexpr int kMergeWarps = 4;
constexpr int kSplitKeys = 32 * kAttentionWarps;  // keys per split (a multiple of it for long rows)
constexpr int kMaxSplits = 32;

// Keys in each split of a row that attends to n_keys keys.
__host__ __device__ inline int split_chunk(int n_keys) {
  return kSplitKeys * ((n_keys + kSplitKeys * kMaxSplits - 1) / (kSplitKeys * kMaxSplits));
}

struct PagedAttentionArgs {
  const float* q;             // token t, head h at q[t * q_stride + h * head_dim] (unscaled)
  const __half* k_cache;      // the layer's [blocks x block_size x n_kv_heads x head_dim]
  const __half* v_cache;
  const int* block_tables;    // [rows x table_stride]
  const int* token_table;     // block-table row of each query token
  const int* token_keys;      // keys each token attends to (its position + 1)
  const int* token_list;      // the query tokens this launch serves (grid.y indexes it), or null: all
  __nv_bfloat16* out;         // [tokens x n_heads x head_dim]
  float* lse;                 // [tokens x n_heads] log-sum-exp of the scaled scores, or null
  float* partial_out;         // [listed tokens x n_heads x splits x head_dim] when splits > 1
  float* partial_lse;         // [listed tokens x n_heads x splits] when splits > 1
  int q_stride, n_heads, n_kv_heads, block_size, table_stride;
  int window;  // a query at position p sees keys (p - window, p]; 0 = all earlier keys
  int sinks;   // with a window: the first `sinks` keys stay visible too (StreamingLLM)
  float scale;
  const int* page_lists;  // or null: [tokens x n_kv_heads x list_stride] ascending pages read,
                          // min(P, K) of them (page_selection.cuh)
  int list_stride;
  attention::PageBudget budget;  // K, with page_lists
  const EvictRow* evict_rows;    // or null: per block-table row, the slots of its kept keys
};

// The keys one (token, KV head) attends to as indices 0..span, in key order.
struct KeyRun {
  const int* pages;  // ascending pages (the sequence's last page, if listed, is the only partial
                     // one), or null: `sinks` keys, then the keys from first_key on
  int block_size, sinks, first_key, span;
  __device__ int key(int index) const {
    if (pages != nullptr) return pages[index / block_size] * block_size + index % block_size;
    return index < sinks ? index : first_key + index - sinks;
  }
};

__device__ inline KeyRun attended_keys(const PagedAttentionArgs& a, int t, int kv_head) {
  const int n_keys = a.token_keys[t];
  if (a.page_lists != nullptr) {
    const int n_pages = attention::visible_pages(n_keys - 1, a.block_size);
    const int count = min(n_pages, attention::pages_to_read(a.budget, n_pages));
    const int* pages = a.page_lists + (static_cast<size_t>(t) * a.n_kv_heads + kv_head) * a.list_stride;
    const int unwritten = pages[count - 1] == n_pages - 1 ? n_pages * a.block_size - n_keys : 0;
    return {pages, a.block_size, 0, 0, count * a.block_size - unwritten};
  }
  if (a.evict_rows != nullptr) {  // slots [0, packed_end), then from natural_begin on
    const EvictRow& row = a.evict_rows[a.token_table[t]];
    return {nullptr, a.block_size, row.packed_end, row.natural_begin, row.packed_end + n_keys - row.natural_begin};
  }
  const int first_key = a.window > 0 ? max(0, n_keys - a.window) : 0;
  const int sinks = min(a.sinks, first_key);
  return {nullptr, a.block_size, sinks, first_key, sinks + n_keys - first_key};
}

// The cache row (block x block_size + offset) of key run index `index`, through the block table.
__device__ inline int cache_slot(const KeyRun& keys, const int* table, int index) {
  const int key = keys.key(index);
  return table[key / keys.block_size] * keys.block_size + key % keys.block_size;
}

template <int kHeadDim>
__device__ inline void load_row(const __half* p, float (&v)[kHeadDim / 32]) {
  constexpr int kPerLane = kHeadDim / 32;
  if constexpr (kPerLane == 2) {
    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(p));
    v[0] = f.x;
    v[1] = f.y;
  } else {
#pragma unroll
    for (int e = 0; e < kPerLane; e += 4) {
      const uint2 raw = *reinterpret_cast<const uint2*>(p + e);
      const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
      const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
      v[e] = a.x;
      v[e + 1] = a.y;
      v[e + 2] = b.x;
      v[e + 3] = b.y;
    }
  }
}

// kGroup: the largest number of query heads per KV head this instance serves (heads beyond the
// model's group are computed on zero queries and dropped).
template <int kHeadDim, int kGroup>
__global__ void __launch_bounds__(32 * kAttentionWarps) paged_attention(PagedAttentionArgs a) {
  static_assert(kHeadDim % 64 == 0, "head_dim must be a multiple of 64");
  constexpr int kPerLane = kHeadDim / 32;
  const int kv_head = blockIdx.x, split = blockIdx.z, splits = gridDim.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = a.n_heads / a.n_kv_heads;
  // The token list, key counts and block tables are step inputs, uploaded before the step's
  // first kernel: they are read, and the cache slots of this warp's first keys found, before
  // waiting on the kernel before (q, the newest K/V rows and block_topk's page lists are outputs
  // of kernels before, read after).
  const int t = a.token_list != nullptr ? a.token_list[blockIdx.y] : blockIdx.y;
  const int* table = a.block_tables + static_cast<size_t>(a.token_table[t]) * a.table_stride;
  const bool listed = a.page_lists != nullptr;
  KeyRun keys{};
  int first_slot = 0;
  if (!listed) {
    keys = attended_keys(a, t, kv_head);
    const int index = split * split_chunk(keys.span) + warp * 32 + lane;
    if (index < keys.span) first_slot = cache_slot(keys, table, index);
  }
  wait_for_inputs();
  if (listed) keys = attended_keys(a, t, kv_head);
  const int chunk = split_chunk(keys.span);
  const int begin = split * chunk, end = min(keys.span, begin + chunk);
  const size_t row = static_cast<size_t>(a.n_kv_heads) * kHeadDim;
  const size_t head_offset = static_cast<size_t>(kv_head) * kHeadDim;

  __shared__ float q_s[kGroup][kHeadDim];
  for (int i = threadIdx.x; i < kGroup * kHeadDim; i += blockDim.x) {
    const int h = i / kHeadDim, e = i % kHeadDim;
    q_s[h][e] = h < group ? a.q[static_cast<size_t>(t) * a.q_stride + static_cast<size_t>(kv_head * group + h) * kHeadDim + e] * a.scale
                          : 0.0f;
  }
  __syncthreads();

  float m[kGroup], l[kGroup], acc[kGroup][kPerLane];
#pragma unroll
  for (int h = 0; h < kGroup; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) acc[h][e] = 0.0f;
  }

  for (int base = begin + warp * 32; base < end; base += 32 * kAttentionWarps) {
    const int index = base + lane;
    const bool valid = index < end;
    // Cache row of this lane's key; the P.V loop below takes the others' by shuffle.
    const int slot = !valid ? 0 : !listed && base == begin + warp * 32 ? first_slot : cache_slot(keys, table, index);
    float s[kGroup];
#pragma unroll
    for (int h = 0; h < kGroup; ++h) s[h] = 0.0f;
    if (valid) {
      const __half* k_row = a.k_cache + static_cast<size_t>(slot) * row + head_offset;
      // Loads in batches, so several are in flight before the arithmetic needs them.
      constexpr int kChunks = kHeadDim / 8, kBatch = kChunks < 4 ? kChunks : 4;
#pragma unroll
      for (int c0 = 0; c0 < kChunks; c0 += kBatch) {
        uint4 raw[kBatch];
#pragma unroll
        for (int b = 0; b < kBatch; ++b) raw[b] = *reinterpret_cast<const uint4*>(k_row + (c0 + b) * 8);
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
          const __half2* pairs = reinterpret_cast<const __half2*>(&raw[b]);
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float2 kv = __half22float2(pairs[j]);
            const int e = (c0 + b) * 8 + 2 * j;
#pragma unroll
            for (int h = 0; h < kGroup; ++h) s[h] += q_s[h][e] * kv.x + q_s[h][e + 1] * kv.y;
          }
        }
      }
    }
    float p[kGroup];
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      const float score = valid ? s[h] : -INFINITY;
      const float m_new = fmaxf(m[h], warp_max(score));  // finite: lane 0's key is valid
      const float correction = __expf(m[h] - m_new);
      p[h] = valid ? __expf(score - m_new) : 0.0f;
      l[h] = l[h] * correction + warp_sum(p[h]);
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) acc[h][e] *= correction;
      m[h] = m_new;
    }
    const int n_valid = min(32, end - base);
    constexpr int kRows = 32 / kPerLane;  // V rows loaded per batch: 32 floats of each lane's registers
    for (int j0 = 0; j0 < n_valid; j0 += kRows) {
      float v[kRows][kPerLane];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int slot_j = __shfl_sync(0xffffffffu, slot, (j0 + r) & 31);
        if (j0 + r < n_valid) {
          load_row<kHeadDim>(a.v_cache + static_cast<size_t>(slot_j) * row + head_offset + lane * kPerLane, v[r]);
        } else {
#pragma unroll
          for (int e = 0; e < kPerLane; ++e) v[r][e] = 0.0f;
        }
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int h = 0; h < kGroup; ++h) {
          const float pj = __shfl_sync(0xffffffffu, p[h], (j0 + r) & 31);
#pragma unroll
          for (int e = 0; e < kPerLane; ++e) acc[h][e] += pj * v[r][e];
        }
      }
    }
  }

  // Merge the warps' partial softmaxes: warps from kMergeWarps up fold into warp % kMergeWarps,
  // round by round, then one thread per output element combines the kMergeWarps.
  static_assert(kAttentionWarps % kMergeWarps == 0, "warps fold evenly");
  __shared__ float warp_m[kMergeWarps][kGroup], warp_l[kMergeWarps][kGroup];
  __shared__ float warp_acc[kMergeWarps][kGroup][kHeadDim];
  auto publish = [&](int slot) {
#pragma unroll
    for (int h = 0; h < kGroup; ++h) {
      if (lane == 0) {
        warp_m[slot][h] = m[h];
        warp_l[slot][h] = l[h];
      }
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) warp_acc[slot][h][lane * kPerLane + e] = acc[h][e];
    }
  };
  for (int round = kAttentionWarps / kMergeWarps - 1; round > 0; --round) {
    const bool gives = warp / kMergeWarps == round;
    if (gives) publish(warp % kMergeWarps);
    __syncthreads();
    if (warp < kMergeWarps) {
#pragma unroll
      for (int h = 0; h < kGroup; ++h) {
        const float other_m = warp_m[warp][h], other_l = warp_l[warp][h];
        if (other_l == 0.0f) continue;  // the giver saw no keys
        const float m_new = fmaxf(m[h], other_m);
        const float mine = l[h] > 0.0f ? __expf(m[h] - m_new) : 0.0f, theirs = __expf(other_m - m_new);
        l[h] = l[h] * mine + other_l * theirs;
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) acc[h][e] = acc[h][e] * mine + warp_acc[warp][h][lane * kPerLane + e] * theirs;
        m[h] = m_new;
      }
    }
    __syncthreads();
  }
  if (warp < kMergeWarps) publish(warp);
  __syncthreads();
  for (int i = threadIdx.x; i < group * kHeadDim; i += blockDim.x) {
    const int h = i / kHeadDim, d = i % kHeadDim;
    float m_all = -INFINITY;
    for (int w = 0; w < kMergeWarps; ++w) m_all = fmaxf(m_all, warp_m[w][h]);
    float l_all = 0.0f, sum = 0.0f;
    for (int w = 0; w < kMergeWarps; ++w) {
      if (warp_l[w][h] > 0.0f) {
        const float weight = __expf(warp_m[w][h] - m_all);
        l_all += warp_l[w][h] * weight;
        sum += warp_acc[w][h][d] * weight;
      }
    }
    const size_t q_row = static_cast<size_t>(t) * a.n_heads + kv_head * group + h;
    const float lse = l_all > 0.0f ? m_all + logf(l_all) : -INFINITY;
    if (splits == 1) {
      a.out[q_row * kHeadDim + d] = __float2bfloat16(sum / l_all);
      if (a.lse != nullptr && d == 0) a.lse[q_row] = lse;
    } else {
      const size_t part = (static_cast<size_t>(blockIdx.y) * a.n_heads + kv_head * group + h) * splits + split;
      a.partial_out[part * kHeadDim + d] = l_all > 0.0f ? sum / l_all : 0.0f;
      if (d == 0) a.partial_lse[part] = lse;
    }
  }
}

// Combines the splits of each (token, head): one block per (head, token), one thread per
// dimension.
__global__ void merge_splits(const float* __restrict__ partial_out, const float* __restrict__ partial_lse,
                             const int* __restrict__ token_list, __nv_bfloat16* __restrict__ out, float* __restrict__ lse,
                             int n_heads, int splits, int head_dim) {
  wait_for_inputs();
  const int t = token_list != nullptr ? token_list[blockIdx.y] : blockIdx.y;
  const size_t q_row = static_cast<size_t>(t) * n_heads + blockIdx.x;
  const size_t part_row = static_cast<size_t>(blockIdx.y) * n_heads + blockIdx.x;
  const float* lses = partial_lse + part_row * splits;
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, lses[s]);
  float total = 0.0f, sum = 0.0f;
  for (int s = 0; s < splits; ++s) {
    if (lses[s] == -INFINITY) continue;
    const float w = __expf(lses[s] - m);
    total += w;
    sum += w * partial_out[(part_row * splits + s) * head_dim + threadIdx.x];
  }
  out[q_row * head_dim + threadIdx.x] = __float2bfloat16(sum / total);
  if (lse != nullptr && threadIdx.x == 0) lse[q_row] = m + logf(total);
}

}  // namespace strata::cuda::kernels
