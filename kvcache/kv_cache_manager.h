// The KV cache manager: per-sequence block tables and state slots over each group's pool, the
// prefix cache, and the accounting the scheduler admits and preempts by. It hands out ids only;
// the engine owns the memory they index, performs the copies it is given and writes the KV.
//
// The life of a sequence, as the scheduler drives it:
//   allocate(seq, tokens)      admit: reserve its known tokens; some may already be cached
//                              (window_kv groups with max_step_tokens: blocks one step at a time)
//   commit(seq, tokens)        after every forward: the tokens whose KV was just written
//   append(seq, n, copies)     before a step that writes n tokens past the reserved ones
//   fork(parent, child, ...)   n > 1 sampling: the child shares the parent's blocks
//   free(seq)                  finished, cancelled or preempted (preemption is by recompute)
// Misuse (an unknown or duplicate sequence id, a commit past the reserved tokens) throws
// std::invalid_argument; running short of blocks or slots is an ordinary false / nullopt that
// changes nothing. Not thread-safe: the scheduler's loop is its one caller.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/block_pool.h"
#include "kvcache/cache_config.h"
#include "kvcache/ids.h"
#include "kvcache/slot_pool.h"

namespace strata::kvcache {

// One group's units: blocks for KV groups, slots for recurrent_state groups.
struct GroupUsage {
  int32_t capacity = 0;
  int32_t used = 0;    // held by at least one sequence
  int32_t free = 0;    // holding nothing
  int32_t cached = 0;  // holding prefix content no sequence uses: reusable, evicted when needed
  // Free or cached, but kept for the later steps of prefills admitted already (window_kv).
  int32_t promised = 0;
  int32_t available() const { return free + cached - promised; }  // what allocations can still take
};

struct PrefixCacheCounters {
  int64_t queried_tokens = 0;  // tokens of the sequences allocate() admitted with the prefix cache on
  int64_t hit_tokens = 0;      // of which the cache already held the KV
};

class KvCacheManager {
 public:
  // Throws std::invalid_argument for a config that plan_capacities() refuses. `hasher` is a
  // test seam to force hash collisions; everything else keeps the SHA-256 default.
  explicit KvCacheManager(KvCacheConfig config, BlockHasher hasher = sha256_block_hash);

  // Admits `seq` with all its known tokens (the prompt; prompt + output when resuming after
  // preemption) and reserves room for all of them. A window_kv group, with max_step_tokens set,
  // takes blocks only for the first step's tokens and promises the rest of what the prefill will
  // hold at most (window_step_units), so that each commit can take the next step's blocks
  // without failing: a long prompt never holds more than sinks + window + one step there.
  // Without max_step_tokens it takes every block and shrinks to the window as commits advance.
  // With the prefix cache on, the longest run of full blocks that earlier sequences registered
  // for the same tokens and extra_key is shared rather than allocated. Returns how many leading tokens already have their KV: a multiple of
  // block_size and less than tokens.size(), so the engine computes at least the last token.
  // Returns nullopt, changing nothing, when blocks or slots are short.
  std::optional<int64_t> allocate(SeqId seq, std::span<const TokenId> tokens, std::string_view extra_key = {});

  // Whether append(seq, n) would succeed now.
  bool can_append(SeqId seq, int64_t n) const;
  // Reserves room for n more tokens (a decode step, or a chunk of tokens). If the last, partial
  // block is shared with a fork, this sequence first gets a private copy: the copy is added to
  // `copies` for the engine to perform before it writes. Returns false, changing nothing, when
  // blocks are short. With max_step_tokens set, reserving past num_committed + max_step_tokens
  // is misuse: one step cannot write them.
  bool append(SeqId seq, int64_t n, std::vector<CopyOp>& copies);

  // The engine wrote KV for `tokens`, the next reserved positions in order: a step's input
  // tokens, not the token it sampled. Each block this fills is registered in the prefix cache
  // at once, so sequences admitted later hit it while this one still runs; window_kv groups
  // release the blocks no later token reads, then take (from the sequence's promise) the blocks
  // of the next step's tokens. Call it after every forward.
  void commit(SeqId seq, std::span<const TokenId> tokens);

  // `child` (a new id) shares every block of `parent`, whose reserved tokens must all be
  // committed, and gets a copy of each of its state slots (added to `copies`). KV needs no new
  // block until an append copies the shared partial block. Returns false, changing nothing,
  // when state slots are short. Refused (std::invalid_argument) when there is an evicting_kv
  // group: compaction rewrites blocks in place, so they must never be shared.
  bool fork(SeqId parent, SeqId child, std::vector<CopyOp>& copies);

  // Drops the sequence's references. Blocks holding registered prefix content become cached
  // (its last blocks first in line for eviction), the others free.
  void free(SeqId seq);

  // evicting_kv groups: the engine compacted these logical blocks away. They must be full of
  // committed tokens and still held; they are released and read kNoBlock in the table.
  void release_compacted(SeqId seq, int group, std::span<const int32_t> logical_blocks);

  bool contains(SeqId seq) const { return sequences_.contains(seq); }
  // Reserved: the engine may write positions [0, num_tokens), one step (max_step_tokens) at a time.
  int64_t num_tokens(SeqId seq) const;
  // Entry i holds positions [i * block_size, (i + 1) * block_size), kNoBlock where released or,
  // in a window_kv group, not taken yet (past the next step).
  // Valid until the next call that changes this sequence.
  std::span<const BlockId> block_table(SeqId seq, int group) const;
  SlotId state_slot(SeqId seq, int group) const;  // recurrent_state groups

  int num_groups() const { return static_cast<int>(groups_.size()); }
  const CacheGroupSpec& group_spec(int group) const { return groups_.at(group).spec; }
  GroupUsage usage(int group) const;
  // Bytes held by sequences over the bytes of all groups' capacity. Cached blocks count as
  // unused: an allocation can evict them.
  double usage_fraction() const;
  PrefixCacheCounters prefix_cache_counters() const { return prefix_counters_; }
  bool prefix_cache_enabled() const { return config_.enable_prefix_cache; }
  // Whether a sequence admitted with prompt_tokens tokens could grow to total_tokens in an
  // otherwise empty cache: allocate() reserves the whole prompt in every KV group (a window
  // group with max_step_tokens at most window_step_units of it), and the sequence then holds
  // every block of a paged group but at most resident_units() of a window or evicting group.
  // The scheduler fails requests that cannot, instead of preempting others for ever.
  bool fits_alone(int64_t prompt_tokens, int64_t total_tokens) const;

  // Throws std::logic_error naming the first violation of: every block is free, cached or owned,
  // on exactly the list its state says; refcounts equal the block-table entries pointing at the
  // block; cached blocks are in the prefix index exactly once; free + cached + owned = capacity;
  // each state slot is free or held by one sequence; each table covers the sequence's tokens.
  void check_invariants() const;

 private:
  struct Group {
    CacheGroupSpec spec;
    std::optional<BlockPool> blocks;  // KV kinds
    std::optional<SlotPool> slots;    // kRecurrentState
    int64_t promised = 0;             // the sum of the sequences' promised blocks
  };

  // A sequence's holdings in one group.
  struct GroupHoldings {
    std::vector<BlockId> table;  // KV kinds
    SlotId slot = -1;            // kRecurrentState
    // Prefix chain: the registered block standing for the last full committed block, valid
    // while every full block so far has one (a collision breaks it; later blocks stay private).
    BlockRef chain_tail;
    bool chain_intact = true;
    // window_kv with max_step_tokens, while the reserved tokens run past the next step: blocks
    // the group keeps free for this sequence's later steps (its bound less what it holds).
    int64_t promised = 0;
  };

  struct Sequence {
    int64_t num_tokens = 0;
    int64_t num_committed = 0;
    std::string extra_key;
    BlockHash chain_hash = kRootBlockHash;  // of the last full committed block
    std::vector<TokenId> pending;           // committed tokens past it (prefix cache on)
    std::vector<GroupHoldings> groups;
  };

  // The longest cached run of full blocks for a prompt, in every group.
  struct PrefixMatch {
    int64_t num_blocks = 0;
    BlockHash chain_hash = kRootBlockHash;
    std::vector<std::vector<BlockRef>> blocks;  // per group
  };

  Sequence& sequence(SeqId seq);
  const Sequence& sequence(SeqId seq) const;
  PrefixMatch match_prefix(std::span<const TokenId> tokens, std::string_view extra_key) const;
  int64_t available(int group) const;  // blocks allocations can take: free + cached - promised
  // Tokens [0, end) whose blocks a sequence with `committed` of `num_tokens` tokens holds or has
  // released: all of them, but in a window_kv group only up to what the next step can write.
  int64_t taken_end(const CacheGroupSpec& spec, int64_t committed, int64_t num_tokens) const;
  // Blocks admitting num_tokens takes or promises in a KV group.
  int64_t admission_units(const CacheGroupSpec& spec, int64_t num_tokens) const;
  // The promise of a window_kv sequence holding `held` blocks: its bound less `held` while the
  // reserved tokens run past the next step, else 0.
  int64_t promise(const Sequence& s, int group, int64_t held) const;
  int64_t blocks_to_append(const Sequence& s, int group, int64_t n) const;
  bool shares_partial_block(const Sequence& s, int group) const;
  void register_full_block(Sequence& s, int64_t logical_block);
  void release_out_of_window(Sequence& s, int group, int64_t committed_before);
  // Takes the blocks of the tokens the next step can write, from the sequence's promise.
  void take_next_step(Sequence& s, int group, int64_t committed_before);
  void set_promise(Sequence& s, int group, int64_t promised);
  void check_sequence(SeqId seq, const Sequence& s) const;

  KvCacheConfig config_;
  BlockHasher hasher_;
  std::vector<Group> groups_;
  std::unordered_map<SeqId, Sequence> sequences_;
  PrefixCacheCounters prefix_counters_;
};

}  // namespace strata::kvcache
