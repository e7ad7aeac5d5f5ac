// The blocks of one KV cache group. Every block is in exactly one state:
//   free    — refcount 0, holds nothing; on the free list;
//   cached  — refcount 0, holds the registered content of a finished prefix; on the LRU list,
//             reusable by a later prefix hit until it is evicted for a new allocation;
//   owned   — refcount >= 1: that many block-table entries point at it.
// The prefix index maps a block hash to the one block registered under it.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/ids.h"

namespace strata::kvcache {

// One lifetime of a block's content. The generation advances each time the block is handed out
// for new content, so a reference to evicted content never matches the block's next content.
struct BlockRef {
  BlockId id = kNoBlock;
  uint64_t generation = 0;
  bool operator==(const BlockRef&) const = default;
};

// Everything that decides a full block's content. Registered blocks store all of it and a hit
// must match all of it, so a hash collision can only cost a miss, never serve wrong KV.
struct PrefixKey {
  BlockHash hash;                   // chained over the whole prefix: the index key
  BlockRef parent;                  // the registered block of the previous level; {} for the first
  std::span<const TokenId> tokens;  // this block's token ids, block_size of them
  std::string_view extra_key;
};

class BlockPool {
 public:
  BlockPool(int32_t num_blocks, int32_t block_size);

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_cached() const { return static_cast<int32_t>(lru_.size()); }
  int32_t num_owned() const { return num_blocks() - num_free() - num_cached(); }
  // What allocate() can still hand out: free blocks, then cached ones by eviction.
  int32_t num_available() const { return num_free() + num_cached(); }
  int32_t ref_count(BlockId block) const { return blocks_[block].ref_count; }

  // A block for new content with refcount 1: a free one, else the least recently cached one,
  // whose registration is dropped. Throws std::logic_error when none is available.
  BlockId allocate();
  // One more reference; a cached block becomes owned again (a prefix hit).
  void add_ref(BlockId block);
  // One reference fewer; at zero a registered block becomes cached (most recently used), any
  // other block free.
  void release(BlockId block);

  // The block registered under key.hash if its stored key equals `key` in full.
  std::optional<BlockRef> find(const PrefixKey& key) const;
  // Registers the content of owned, full `block`. Returns the block that now stands for this
  // content: `block` itself, or an equal block registered earlier (which stays the only one
  // registered); nullopt when a block of different content holds the hash (a collision).
  std::optional<BlockRef> register_block(BlockId block, const PrefixKey& key);

  // Checks the states above, the lists and the index; `table_refs[b]` is the number of
  // block-table entries pointing at b. Throws std::logic_error naming the first violation.
  void check_invariants(std::span<const int32_t> table_refs) const;

 private:
  struct Block {
    int32_t ref_count = 0;
    uint64_t generation = 0;
    bool registered = false;
    // The registered key (tokens live in tokens_); meaningful while registered.
    BlockHash hash{};
    BlockRef parent;
    std::string extra_key;
    std::list<BlockId>::iterator lru_position;  // valid while cached
  };

  std::span<const TokenId> tokens_of(BlockId block) const;
  bool holds(BlockId block, const PrefixKey& key) const;
  void unregister(BlockId block);

  int32_t block_size_;
  std::vector<Block> blocks_;
  std::vector<TokenId> tokens_;  // block_size_ token ids per block, for registered blocks
  std::vector<BlockId> free_;
  std::list<BlockId> lru_;  // cached blocks, least recently used first
  std::unordered_map<BlockHash, BlockId, BlockHashBucket> index_;
};

}  // namespace strata::kvcache
