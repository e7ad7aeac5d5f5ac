#include "kvcache/block_pool.h"

#include <algorithm>
#include <stdexcept>

namespace strata::kvcache {

namespace {

[[noreturn]] void violation(BlockId block, const std::string& what) {
  throw std::logic_error("kvcache invariant: block " + std::to_string(block) + " " + what);
}

}  // namespace

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size), blocks_(num_blocks), tokens_(static_cast<size_t>(num_blocks) * block_size) {
  // Reversed, so that a fresh pool hands out blocks 0, 1, 2, ...
  for (BlockId block = num_blocks - 1; block >= 0; --block) free_.push_back(block);
}

BlockId BlockPool::allocate() {
  BlockId block;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    block = lru_.front();
    lru_.pop_front();
    unregister(block);
  } else {
    throw std::logic_error("kvcache: BlockPool::allocate with no block available");
  }
  blocks_[block].ref_count = 1;
  ++blocks_[block].generation;
  return block;
}

void BlockPool::add_ref(BlockId block) {
  Block& b = blocks_[block];
  if (b.ref_count == 0) {
    if (!b.registered) throw std::logic_error("kvcache: add_ref on free block " + std::to_string(block));
    lru_.erase(b.lru_position);
  }
  ++b.ref_count;
}

void BlockPool::release(BlockId block) {
  Block& b = blocks_[block];
  if (b.ref_count <= 0) throw std::logic_error("kvcache: release of unreferenced block " + std::to_string(block));
  if (--b.ref_count > 0) return;
  if (b.registered) {
    b.lru_position = lru_.insert(lru_.end(), block);
  } else {
    free_.push_back(block);
  }
}

std::span<const TokenId> BlockPool::tokens_of(BlockId block) const {
  return std::span<const TokenId>(tokens_).subspan(static_cast<size_t>(block) * block_size_, block_size_);
}

bool BlockPool::holds(BlockId block, const PrefixKey& key) const {
  const Block& b = blocks_[block];
  return b.hash == key.hash && b.parent == key.parent && b.extra_key == key.extra_key &&
         std::ranges::equal(tokens_of(block), key.tokens);
}

std::optional<BlockRef> BlockPool::find(const PrefixKey& key) const {
  const auto it = index_.find(key.hash);
  if (it == index_.end() || !holds(it->second, key)) return std::nullopt;
  return BlockRef{it->second, blocks_[it->second].generation};
}

std::optional<BlockRef> BlockPool::register_block(BlockId block, const PrefixKey& key) {
  if (key.tokens.size() != static_cast<size_t>(block_size_)) {
    throw std::logic_error("kvcache: register_block needs a full block of tokens");
  }
  if (blocks_[block].ref_count == 0) {
    throw std::logic_error("kvcache: register_block on unowned block " + std::to_string(block));
  }
  // First registration wins: an equal block registered earlier keeps standing for this content.
  if (index_.contains(key.hash)) return find(key);
  Block& b = blocks_[block];
  b.registered = true;
  b.hash = key.hash;
  b.parent = key.parent;
  b.extra_key = key.extra_key;
  std::ranges::copy(key.tokens, tokens_.begin() + static_cast<ptrdiff_t>(block) * block_size_);
  index_.emplace(key.hash, block);
  return BlockRef{block, b.generation};
}

void BlockPool::unregister(BlockId block) {
  Block& b = blocks_[block];
  index_.erase(b.hash);
  b.registered = false;
  b.extra_key.clear();
}

void BlockPool::check_invariants(std::span<const int32_t> table_refs) const {
  if (table_refs.size() != blocks_.size()) throw std::logic_error("kvcache invariant: table_refs has the wrong size");
  std::vector<int32_t> on_free_list(blocks_.size()), on_lru_list(blocks_.size());
  for (const BlockId block : free_) ++on_free_list[block];
  for (const BlockId block : lru_) ++on_lru_list[block];

  int32_t owned = 0;
  for (BlockId block = 0; block < num_blocks(); ++block) {
    const Block& b = blocks_[block];
    if (b.ref_count != table_refs[block]) {
      violation(block, "has refcount " + std::to_string(b.ref_count) + " but " + std::to_string(table_refs[block]) +
                           " block-table references");
    }
    const bool cached = b.ref_count == 0 && b.registered;
    const bool free = b.ref_count == 0 && !b.registered;
    owned += b.ref_count > 0;
    if (on_free_list[block] != (free ? 1 : 0)) {
      violation(block, "is on the free list " + std::to_string(on_free_list[block]) + " times but is " +
                           (free     ? "free"
                            : cached ? "cached"
                                     : "owned"));
    }
    if (on_lru_list[block] != (cached ? 1 : 0)) {
      violation(block, "is on the LRU list " + std::to_string(on_lru_list[block]) + " times but is " +
                           (free     ? "free"
                            : cached ? "cached"
                                     : "owned"));
    }
    if (cached && *b.lru_position != block) violation(block, "is cached but its LRU position names another block");
    if (b.registered) {
      const auto it = index_.find(b.hash);
      if (it == index_.end() || it->second != block) {
        violation(block, "is registered but the index does not map its hash to it");
      }
    }
  }
  for (const auto& [hash, block] : index_) {
    if (!blocks_[block].registered || blocks_[block].hash != hash) {
      violation(block, "is in the index under a hash it does not hold");
    }
  }
  if (num_free() + num_cached() + owned != num_blocks()) {
    throw std::logic_error("kvcache invariant: free + cached + owned != number of blocks");
  }
}

}  // namespace strata::kvcache
