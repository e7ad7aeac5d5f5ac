// Host entry points of `evict` layers' kernels (kernels/key_eviction.cuh): each validates its
// shape and launches on `stream`. A layer's slot metadata is two arrays of [cache slots x
// n_kv_heads]: each key's original position (int32) and its score (float).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/attention/layer_plan.h"
#include "engine/cuda/eviction_inputs.h"
#include "engine/cuda/ops.h"

namespace strata::cuda {

// After one layer's attention (`shape` and lse as that call's): adds to each key's score the
// softmax weights the scoring queries of `rows` (n_rows of them, padding rows included;
// attention::scores_query under `plan`) give it, summed over the KV head's query heads; the keys
// the step wrote start at 0 and get their positions. shape.max_keys bounds a row's keys. head_dim
// 64, 128 or 256. prompts: some row has more than one token (the kernel then loads several
// queries per barrier; decode steps keep the one-query instance).
void accumulate_key_scores(const float* q, const uint16_t* k_cache_fp16, const float* lse, const int32_t* block_tables,
                           const int32_t* positions, const EvictRow* rows, int n_rows, int32_t* slot_positions,
                           float* slot_scores, const PagedAttentionShape& shape, const attention::EvictionPlan& plan,
                           bool prompts, cudaStream_t stream);

// The compactions of n_layers layers of a cache group (`layers`, a device array) at once:
// attention::choose_kept per (layer, row of `rows`, KV head), the row's candidates being entries
// of candidate_slots (n_candidates in all), as moves[((l * compactions + c) * n_kv_heads + h) *
// keep + j], the j-th kept key going to the j-th candidate's slot. keys: n_layers x n_kv_heads x
// n_candidates scratch.
void choose_kept_slots(const int32_t* candidate_slots, int n_candidates, const CompactionRow* rows, int compactions,
                       int keep, int n_kv_heads, const EvictingLayer* layers, int n_layers, unsigned long long* keys,
                       SlotMove* moves, cudaStream_t stream);

// Runs those moves: K, V and metadata of each kept key into its slot.
void compact_slots(const SlotMove* moves, int compactions, int keep, int n_kv_heads, int head_dim,
                   const EvictingLayer* layers, int n_layers, cudaStream_t stream);

}  // namespace strata::cuda
