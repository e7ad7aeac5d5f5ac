// What the cache holds: its groups (one per kind of attention cache, with their byte sizes)
// and the memory budget they share.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace strata::kvcache {

enum class CacheKind : uint8_t {
  kPagedKv,         // blocks grow with the sequence; the only kind the prefix cache serves
  kWindowKv,        // sink blocks + blocks covering the last window_tokens; older blocks released
  kEvictingKv,      // paged; the engine names blocks it compacted away to release them; no forks
  kRecurrentState,  // one fixed-size slot per sequence, no blocks
};

std::string_view to_string(CacheKind kind);  // "paged_kv", "window_kv", ...

// Blocks of block_size tokens that hold `tokens` tokens.
inline int64_t blocks_for_tokens(int64_t tokens, int32_t block_size) { return (tokens + block_size - 1) / block_size; }

// One cache group: the layers that share one block table (or one state slot) per sequence.
// Byte sizes cover all of the group's layers; kvcache only uses them to split the budget.
struct CacheGroupSpec {
  CacheKind kind = CacheKind::kPagedKv;
  int32_t block_size = 16;         // tokens per block (KV kinds)
  int64_t bytes_per_token = 0;     // KV kinds: bytes one token takes in all the group's layers; > 0
  int64_t bytes_per_sequence = 0;  // kRecurrentState: bytes of one slot; > 0
  int64_t window_tokens = 0;       // kWindowKv: a token at position p reads p - window_tokens on; > 0
  int64_t sink_tokens = 0;         // kWindowKv: leading tokens kept for ever (StreamingLLM sinks)
  int64_t token_budget = 0;        // kEvictingKv: tokens per sequence the engine keeps; > 0

  int64_t bytes_per_block() const { return bytes_per_token * block_size; }
  // Bytes of one unit of the group's capacity: a block, or a slot for kRecurrentState.
  int64_t bytes_per_unit() const { return kind == CacheKind::kRecurrentState ? bytes_per_sequence : bytes_per_block(); }
};

struct KvCacheConfig {
  std::vector<CacheGroupSpec> groups;  // at least one
  // Device bytes for all groups together, split by the rule of plan_capacities().
  int64_t memory_budget_bytes = 0;
  // Overrides the budget: every KV group gets exactly this many blocks and every state group
  // this many slots (a sequence holds at least one block, so N slots admit no fewer sequences
  // than N blocks do).
  std::optional<int32_t> num_blocks;
  // The sequence length (prompt + output) the budget split is tuned for.
  int64_t typical_sequence_tokens = 4096;
  // Serve full blocks of earlier sequences to new ones with the same prefix. Needs every group
  // to be kPagedKv with one block_size; other layouts are refused, not silently uncached.
  bool enable_prefix_cache = true;
  // The most tokens one step writes for one sequence (the scheduler's max_num_batched_tokens).
  // Set, kWindowKv groups take blocks only for the tokens the next step can write, so a long
  // prompt prefilled in chunks holds sinks + window + one step's blocks (window_step_units), not
  // all of it; unset, every reserved token gets its block at once.
  std::optional<int64_t> max_step_tokens;
};

// Blocks (or slots) one sequence of `tokens` tokens keeps resident in a group at most: all its
// blocks for kPagedKv; sink blocks + window blocks + one for kWindowKv (the block being written
// before a commit releases the oldest); token_budget + one block for kEvictingKv; one slot for
// kRecurrentState.
int64_t resident_units(const CacheGroupSpec& spec, int64_t tokens);

// Blocks one sequence of `tokens` tokens holds at most in a kWindowKv group while each step
// writes up to step_tokens of them: the sink blocks, and the blocks from the oldest one a step's
// first token reads (window_tokens back) to the one its last token is written to. With
// step_tokens = 1 (decode) this is resident_units.
int64_t window_step_units(const CacheGroupSpec& spec, int64_t tokens, int64_t step_tokens);

// The capacity of each group: blocks for KV kinds, slots for kRecurrentState.
//
// Budget rule: each group's demand is the bytes one typical sequence (typical_sequence_tokens
// long) keeps resident in it (resident_units). The budget is split in proportion to demand, so every group runs out at the same number of typical
// sequences and no group's bytes are stranded while another is full.
//
// Throws std::invalid_argument naming the first bad field, or a group the budget cannot give a
// single block or slot.
std::vector<int32_t> plan_capacities(const KvCacheConfig& config);

}  // namespace strata::kvcache
