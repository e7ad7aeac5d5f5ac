// `evict` layers on the GPU (engine/attention/eviction.h is the definition; the CPU side is
// engine/model/evicting_layers.*): each cache slot carries, per KV head, the original position of
// its key and its score.
// - accumulate_key_scores: after a layer's attention, each key's score += the softmax weight every
//   scoring query of the step gives it, summed over the KV head's query heads, from the
//   attention's log-sum-exp; a thread per key adds the weights in query then head order, as the
//   CPU does. Keys the step wrote start at a score of 0 and get their positions here.
// - choose_kept_slots: at a compaction, which keys of a (layer, sequence, KV head) stay
//   (attention::choose_kept's rule), as moves into the front slots;
// - compact_slots: those moves (K, V and metadata), a block per (layer, sequence, KV head)
//   walking them in order, reads before writes, since a move's source may be a later move's
//   destination.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "engine/cuda/eviction_inputs.h"
#include "engine/cuda/kernels/block_select.cuh"
#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

struct KeyScoreArgs {
  const float* q;           // token t, head h at q[t * q_stride + h * head_dim] (unscaled)
  const __half* k_cache;    // the layer's [blocks x block_size x n_kv_heads x head_dim]
  const float* lse;         // [tokens x n_heads]: the attention's log-sum-exp of the scaled scores
  const int* block_tables;  // [rows x table_stride]
  const int* positions;     // of each query token
  const EvictRow* rows;     // one per block-table row
  int* slot_positions;      // [slots x n_kv_heads]
  float* slot_scores;
  int q_stride, n_heads, n_kv_heads, block_size, table_stride;
  float scale;
  bool every_query;        // H2O: every query scores; SnapKV: the observation window
  int observation_window;  // SnapKV: the last prompt queries that score
};

constexpr int kScoreThreads = 256;

// The queries whose q a block holds in shared memory at once: one for decode steps; several for
// steps with prompts, so a block meets at a barrier once per that many queries (32 KiB of q at
// most). Decode keeps its own instance: the larger arrays cost its steps 3.6% (SmolLM2).
template <int kHeadDim, int kGroup>
constexpr int kPromptQueries = kGroup * kHeadDim > 1024 ? 4 : 8;

// Grid (key chunks of kScoreThreads, n_kv_heads, rows): a thread per key of the row, through its
// newest token.
template <int kHeadDim, int kGroup, int kQueries>
__global__ void __launch_bounds__(kScoreThreads) accumulate_key_scores(KeyScoreArgs a) {
  const int kv_head = blockIdx.y;
  const EvictRow row = a.rows[blockIdx.z];  // step inputs: read before the wait
  if (row.tokens == 0) return;
  const int first_pos = a.positions[row.first_token];
  int begin = first_pos, end = first_pos + row.tokens;  // positions of the scoring queries
  if (!a.every_query) {
    begin = max(begin, row.prompt_end - a.observation_window);
    end = min(end, row.prompt_end);
  }
  const bool scoring = begin < end;
  // Key run indices: [0, packed_end) kept keys, then the natural slots from natural_begin; the
  // step's own keys from `fresh`.
  const int span = row.packed_end + first_pos + row.tokens - row.natural_begin;
  const int fresh = row.packed_end + first_pos - row.natural_begin;
  const int block_first = blockIdx.x * kScoreThreads;
  if (block_first >= span || (!scoring && block_first + kScoreThreads <= fresh)) return;
  const int index = block_first + threadIdx.x;
  const bool valid = index < span;
  const int key = index < row.packed_end ? index : row.natural_begin + index - row.packed_end;
  const int* table = a.block_tables + static_cast<size_t>(blockIdx.z) * a.table_stride;
  const size_t slot = valid ? static_cast<size_t>(table[key / a.block_size]) * a.block_size + key % a.block_size : 0;
  const size_t at = slot * a.n_kv_heads + kv_head;
  const bool scored = valid && scoring && key < end;  // some scoring query sees it
  const int group = a.n_heads / a.n_kv_heads;
  wait_for_inputs();

  constexpr int kChunks = kHeadDim / 8;
  uint4 k[kChunks];  // the key's row, 16 bytes a load
  float score = 0.0f;
  if (scored) {
    const uint4* k_row = reinterpret_cast<const uint4*>(a.k_cache + at * kHeadDim);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) k[c] = k_row[c];
  }
  if (valid && index < fresh) score = a.slot_scores[at];
  __shared__ float q_s[kQueries][kGroup][kHeadDim];  // scaled
  __shared__ float lse_s[kQueries][kGroup];
  for (int pos0 = begin; pos0 < end; pos0 += kQueries) {
    const int n = min(kQueries, end - pos0);
    __syncthreads();  // the previous queries are no longer read
    for (int i = threadIdx.x; i < n * group * kHeadDim; i += kScoreThreads) {
      const int qi = i / (group * kHeadDim), h = i / kHeadDim % group, e = i % kHeadDim;
      const size_t t = static_cast<size_t>(row.first_token + pos0 + qi - first_pos);
      q_s[qi][h][e] = a.q[t * a.q_stride + static_cast<size_t>(kv_head * group + h) * kHeadDim + e] * a.scale;
    }
    if (threadIdx.x < n * group) {
      const int qi = threadIdx.x / group, h = threadIdx.x % group;
      lse_s[qi][h] = a.lse[static_cast<size_t>(row.first_token + pos0 + qi - first_pos) * a.n_heads + kv_head * group + h];
    }
    __syncthreads();
    if (!scored) continue;
    for (int qi = 0; qi < n; ++qi) {
      if (key > pos0 + qi) continue;  // a key newer than the query
      for (int h = 0; h < group; ++h) {
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const __half2* pairs = reinterpret_cast<const __half2*>(&k[c]);
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float2 kf = __half22float2(pairs[j]);
            dot += q_s[qi][h][c * 8 + 2 * j] * kf.x + q_s[qi][h][c * 8 + 2 * j + 1] * kf.y;
          }
        }
        score += __expf(dot - lse_s[qi][h]);
      }
    }
  }
  if (!valid) return;
  if (index >= fresh) a.slot_positions[at] = key;  // a key the step wrote sits at its own position
  if (scored || index >= fresh) a.slot_scores[at] = score;
}

struct KeptChoiceArgs {
  const int* candidate_slots;  // the step's candidates (CompactionRow)
  const CompactionRow* rows;   // one per compaction (grid.y)
  const EvictingLayer* layers;  // grid.z
  unsigned long long* keys;    // scratch: [layers x n_kv_heads x n_candidates]
  SlotMove* moves;             // [layers x compactions x n_kv_heads x keep]
  int n_candidates, n_kv_heads, keep;
};

// A candidate's rank as one unsigned key, smaller first: protected (sink or recent) keys, then
// SnapKV's generated ones, then by score (higher first), then by position (newer first) --
// attention::select_kept's order. Positions are below 2^30, so keys are unique.
__device__ inline unsigned long long kept_rank(bool is_protected, bool generated, float score, int position) {
  return (static_cast<unsigned long long>(!is_protected) << 63) | (static_cast<unsigned long long>(!generated) << 62) |
         (static_cast<unsigned long long>(order_key(-score)) << 30) | static_cast<unsigned long long>((1 << 30) - 1 - position);
}

// Grid (n_kv_heads, compactions, layers), kSelectThreads threads: attention::choose_kept for one
// (layer, sequence, KV head). Each candidate's rank key (its score max-pooled first at SnapKV's
// first compaction), a radix select of the keep-th smallest (eight passes of 8 bits), then the
// kept candidates in order, each with its destination, as moves for compact_slots.
__global__ void __launch_bounds__(kSelectThreads) choose_kept_slots(KeptChoiceArgs a) {
  wait_for_inputs();
  __shared__ int histogram[256];
  __shared__ unsigned long long prefix_s;
  __shared__ int remaining_s;
  const int kv_head = blockIdx.x;
  const CompactionRow row = a.rows[blockIdx.y];
  const EvictingLayer layer = a.layers[blockIdx.z];
  const int n = row.candidates;
  const int* slots = a.candidate_slots + row.first_candidate;
  unsigned long long* keys =
      a.keys + (static_cast<size_t>(blockIdx.z) * a.n_kv_heads + kv_head) * a.n_candidates + row.first_candidate;
  const auto metadata = [&](int i) { return static_cast<size_t>(slots[i]) * a.n_kv_heads + kv_head; };
  const bool pooled = layer.h2o == 0 && row.first != 0;
  const int half = layer.pool_kernel / 2;
  for (int i = threadIdx.x; i < n; i += kSelectThreads) {
    const int position = layer.positions[metadata(i)];
    float score = layer.scores[metadata(i)];
    if (pooled) {
      for (int j = max(0, i - half); j < min(n, i + half + 1); ++j) score = fmaxf(score, layer.scores[metadata(j)]);
    }
    const bool is_protected = position < layer.sink_tokens || position >= row.tokens_end - layer.recent_tokens;
    keys[i] = kept_rank(is_protected, layer.h2o == 0 && position >= row.prompt_end, score, position);
  }
  __syncthreads();

  unsigned long long prefix = 0, mask = 0;
  int remaining = a.keep;  // of the keys matching the prefix, how many of the smallest to take
  for (int shift = 56; shift >= 0; shift -= 8) {
    histogram[threadIdx.x] = 0;
    __syncthreads();
    // Keys of one magnitude share their top bytes: the lanes of a bin add once, together.
    for (int base = 0; base < n; base += kSelectThreads) {
      const int i = base + threadIdx.x;
      const unsigned long long key = i < n ? keys[i] : 0;
      const bool counted = i < n && (key & mask) == prefix;
      const int bin = counted ? static_cast<int>((key >> shift) & 255) : -1;
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (counted && __ffs(peers) - 1 == static_cast<int>(threadIdx.x % 32)) atomicAdd(&histogram[bin], __popc(peers));
    }
    __syncthreads();
    const int digit = threadIdx.x, count = histogram[digit];
    int total;
    const int smaller = block_exclusive_scan(count, &total);
    if (smaller < remaining && smaller + count >= remaining) {
      prefix_s = prefix | (static_cast<unsigned long long>(digit) << shift);
      remaining_s = remaining - smaller;
    }
    __syncthreads();
    prefix = prefix_s;
    remaining = remaining_s;
    mask |= 255ull << shift;
  }
  // prefix is the keep-th smallest key: the kept candidates are those up to it, in order.
  SlotMove* moves = a.moves + ((static_cast<size_t>(blockIdx.z) * gridDim.y + blockIdx.y) * a.n_kv_heads + kv_head) * a.keep;
  int kept_before = 0;
  for (int base = 0; base < n; base += kSelectThreads) {
    const int i = base + threadIdx.x;
    const unsigned long long key = i < n ? keys[i] : 0;
    const bool kept = i < n && key <= prefix;
    int total;
    const int j = kept_before + block_exclusive_scan(kept ? 1 : 0, &total);
    if (kept) {
      const int position = (1 << 30) - 1 - static_cast<int>(key & ((1u << 30) - 1));
      moves[j] = SlotMove{slots[i], slots[j], position, -from_order_key(static_cast<uint32_t>(key >> 30))};
    }
    kept_before += total;
  }
}

// Grid (n_kv_heads, compactions, layers); moves as choose_kept_slots writes them, the j-th kept
// key of a (layer, compaction, KV head) going to its j-th candidate's slot: ascending sources,
// each at or after its destination, so a round of moves reads only slots no earlier round wrote.
template <int kHeadDim>
__global__ void compact_slots(const SlotMove* __restrict__ moves, const EvictingLayer* __restrict__ layers, int keep,
                              int n_kv_heads) {
  wait_for_inputs();
  constexpr int kPieces = kHeadDim / 8;  // 16-byte pieces of a head's row
  const int kv_head = blockIdx.x;
  const EvictingLayer layer = layers[blockIdx.z];
  __half* k_cache = reinterpret_cast<__half*>(layer.k);
  __half* v_cache = reinterpret_cast<__half*>(layer.v);
  const SlotMove* m = moves + ((static_cast<size_t>(blockIdx.z) * gridDim.y + blockIdx.y) * n_kv_heads + kv_head) * keep;
  const int keys_per_round = blockDim.x / kPieces, piece = threadIdx.x % kPieces;
  const size_t head = static_cast<size_t>(kv_head) * kHeadDim + piece * 8;
  const size_t row = static_cast<size_t>(n_kv_heads) * kHeadDim;
  for (int j0 = 0; j0 < keep; j0 += keys_per_round) {
    const int j = j0 + static_cast<int>(threadIdx.x) / kPieces;
    const bool moves_one = j < keep && threadIdx.x < keys_per_round * kPieces;
    SlotMove move{};
    uint4 k{}, v{};
    if (moves_one) {
      move = m[j];
      k = *reinterpret_cast<const uint4*>(k_cache + static_cast<size_t>(move.from) * row + head);
      v = *reinterpret_cast<const uint4*>(v_cache + static_cast<size_t>(move.from) * row + head);
    }
    __syncthreads();
    if (moves_one) {
      *reinterpret_cast<uint4*>(k_cache + static_cast<size_t>(move.to) * row + head) = k;
      *reinterpret_cast<uint4*>(v_cache + static_cast<size_t>(move.to) * row + head) = v;
      if (piece == 0) {
        layer.positions[static_cast<size_t>(move.to) * n_kv_heads + kv_head] = move.position;
        layer.scores[static_cast<size_t>(move.to) * n_kv_heads + kv_head] = move.score;
      }
    }
    __syncthreads();
  }
}

}  // namespace strata::cuda::kernels
