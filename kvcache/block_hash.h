// The prefix cache's key for a full block: a hash chained over the blocks before it.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <span>
#include <string_view>

#include "kvcache/ids.h"
#include "kvcache/sha256.h"

namespace strata::kvcache {

using BlockHash = Sha256Digest;

// The parent hash of a sequence's first block.
inline constexpr BlockHash kRootBlockHash{};

// hash(parent, tokens, extra_key) for one full block. extra_key separates caches that must
// never share (a LoRA adapter name, a tenant salt).
using BlockHasher =
    std::function<BlockHash(const BlockHash& parent, std::span<const TokenId> tokens, std::string_view extra_key)>;

// The production hasher: SHA-256 over parent, the length and bytes of extra_key, and the token
// ids as little-endian int32.
BlockHash sha256_block_hash(const BlockHash& parent, std::span<const TokenId> tokens, std::string_view extra_key);

// For unordered_map: a SHA-256 digest is already uniform, so its first word is the bucket hash.
struct BlockHashBucket {
  size_t operator()(const BlockHash& hash) const {
    size_t word;
    std::memcpy(&word, hash.data(), sizeof word);
    return word;
  }
};

}  // namespace strata::kvcache
