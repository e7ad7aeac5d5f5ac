// One forward step over a ragged batch: prefill chunks and decode tokens of many sequences.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvcache/cache_config.h"

namespace strata::model {

enum class LogitsWanted : uint8_t {
  kNone,  // a prefill chunk that is not the prompt's last
  kLast,  // the logits of the sequence's last token in this step (sampling)
  kAll,   // one row per token (teacher-forced evaluation)
};

struct BatchSequence {
  std::span<const int32_t> tokens;       // the tokens this step computes (at least one)
  int32_t start_pos = 0;                 // position of tokens[0]: the tokens already cached
  // One block table per cache group of the model's attention plan, in its order, each covering
  // positions [0, start_pos + tokens.size()); entries a window released read -1. A
  // recurrent_state group has no blocks: its table is empty and state_slot names the slot.
  std::vector<std::span<const int32_t>> block_tables;
  LogitsWanted logits = LogitsWanted::kLast;
  // The sequence's slot in the plan's recurrent_state group (its linear layers' state, which
  // holds start_pos tokens; start_pos 0 starts it afresh); -1 when the plan has no such group.
  int32_t state_slot = -1;
  // The prompt's length. Evicting layers (attention/eviction.h) score from its last queries and
  // compact from its end on; 0: the prompt ends with this step.
  int32_t prompt_tokens = 0;

  int64_t end() const { return int64_t{start_pos} + static_cast<int64_t>(tokens.size()); }
  int64_t prompt_end() const { return prompt_tokens > 0 ? prompt_tokens : end(); }
};

// Blocks a step's compaction emptied in one sequence's evicting cache group: logical indices into
// its block table, full of committed tokens once the step is committed. The caller releases them
// (kvcache's release_compacted) before the sequence's next step, whose keys depend on it.
struct CompactedBlocks {
  int32_t sequence = 0;  // index into the step's batch
  int32_t group = 0;
  std::vector<int32_t> logical_blocks;
};

using ForwardBatch = std::vector<BatchSequence>;

// The batch as one list of tokens, which every backend's forward walks.
struct FlatBatch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> sequence;     // index into the batch of each token's sequence
  std::vector<int64_t> output_rows;  // tokens whose logits are returned, in order
  int32_t longest = 0;               // keys of the token that sees the most
};

// Checks the batch against the model and the cache groups of kinds `group_kinds`
// (std::invalid_argument naming the problem: no tokens, positions past the context, not one block
// table per cache group, a table too short or without a block where the step writes, no state
// slot for a recurrent_state group, an id outside the vocabulary) and flattens it.
FlatBatch flatten(const ForwardBatch& batch, int32_t context_length, int32_t vocab_size, int32_t block_size,
                  std::span<const kvcache::CacheKind> group_kinds);
// The cache groups of a model with every layer on one paged cache.
inline constexpr kvcache::CacheKind kOnePagedGroup[] = {kvcache::CacheKind::kPagedKv};

}  // namespace strata::model
