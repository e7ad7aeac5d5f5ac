// The host-planned inputs of `evict` layers' kernels (kernels/key_eviction.cuh). Plain data.
#pragma once

#include <cstdint>

namespace strata::cuda {

// One block-table row (one sequence) of a step: where its kept keys lie (attention/eviction.h's
// CompactedLayout), its prompt's end (which queries score) and its query tokens.
struct EvictRow {
  int32_t packed_end;     // slots [0, packed_end) hold kept keys; 0 before the first compaction
  int32_t natural_begin;  // slots from here on hold the tokens at their own positions
  int32_t prompt_end;     // model::BatchSequence::prompt_end()
  int32_t first_token;    // flat index of the row's first query token
  int32_t tokens;         // its query tokens in the step; 0: a padding row
};

// One sequence's compaction at the end of a step (attention/eviction.h's Compaction): its
// candidates are entries [first_candidate, first_candidate + candidates) of the step's candidate
// list (cache slots in candidate order, so in position order), and the first `keep` of them are
// the slots the kept keys go to.
struct CompactionRow {
  int32_t first_candidate;
  int32_t candidates;
  int32_t tokens_end;  // the sequence's tokens after the step
  int32_t prompt_end;
  int32_t first;       // 1 at the sequence's first compaction (SnapKV pools its scores then)
};

// One evicting layer as the compaction kernels see it (an array of them serves every layer of a
// cache group in one launch): its fp16 K and V caches ([slots x n_kv_heads x head_dim]), each
// slot's metadata ([slots x n_kv_heads]) and its plan (attention::EvictionPlan).
struct EvictingLayer {
  uint16_t* k;
  uint16_t* v;
  int32_t* positions;
  float* scores;
  int32_t h2o;  // 1: H2O, 0: SnapKV
  int32_t sink_tokens, recent_tokens, pool_kernel;
};

// One move of a compaction: the key at cache slot `from` goes to slot `to`, with the position
// and score it keeps.
struct SlotMove {
  int32_t from, to, position;
  float score;
};

}  // namespace strata::cuda
