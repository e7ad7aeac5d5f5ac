// The building blocks of kvcache: SHA-256 and the block hash, BlockPool (states, LRU eviction,
// the verified prefix index, invariant checks) and SlotPool.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/block_pool.h"
#include "kvcache/sha256.h"
#include "kvcache/slot_pool.h"

namespace strata::kvcache {
namespace {

std::string hex(const Sha256Digest& digest) {
  std::string text;
  char byte[3];
  for (const uint8_t b : digest) {
    std::snprintf(byte, sizeof byte, "%02x", b);
    text += byte;
  }
  return text;
}

std::string sha256_hex(const std::string& message) {
  Sha256 sha;
  sha.update(message.data(), message.size());
  return hex(sha.finish());
}

TEST(KvCacheHash, Sha256MatchesFips180Vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(KvCacheHash, Sha256IncrementalEqualsOneShot) {
  // A million 'a' in uneven pieces crosses the 64-byte chunk boundary at every offset.
  Sha256 sha;
  const std::string piece(997, 'a');
  size_t fed = 0;
  while (fed < 1000000) {
    const size_t take = std::min(piece.size() - fed % 7, 1000000 - fed);
    sha.update(piece.data(), take);
    fed += take;
  }
  EXPECT_EQ(hex(sha.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(KvCacheHash, BlockHashCoversParentTokensAndExtraKey) {
  const std::vector<TokenId> tokens = {1, 2, 3, 4};
  const std::vector<TokenId> other_tokens = {1, 2, 3, 5};
  const BlockHash base = sha256_block_hash(kRootBlockHash, tokens, "");
  EXPECT_EQ(base, sha256_block_hash(kRootBlockHash, tokens, ""));
  EXPECT_NE(base, sha256_block_hash(kRootBlockHash, other_tokens, ""));
  EXPECT_NE(base, sha256_block_hash(kRootBlockHash, tokens, "lora-a"));
  EXPECT_NE(base, sha256_block_hash(base, tokens, ""));
}

constexpr int32_t kBlockSize = 4;

PrefixKey key_for(const std::vector<TokenId>& tokens, BlockRef parent = {}, std::string_view extra_key = "") {
  return PrefixKey{sha256_block_hash(kRootBlockHash, tokens, extra_key), parent, tokens, extra_key};
}

void expect_counts(const BlockPool& pool, int32_t free, int32_t cached, int32_t owned) {
  EXPECT_EQ(pool.num_free(), free);
  EXPECT_EQ(pool.num_cached(), cached);
  EXPECT_EQ(pool.num_owned(), owned);
}

TEST(KvCacheBlockPool, HandsOutBlocksInOrderAndCountsStates) {
  BlockPool pool(3, kBlockSize);
  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), 1);
  expect_counts(pool, 1, 0, 2);
  pool.add_ref(1);
  EXPECT_EQ(pool.ref_count(1), 2);
  pool.release(1);
  pool.release(1);
  expect_counts(pool, 2, 0, 1);
  pool.check_invariants(std::vector<int32_t>{1, 0, 0});
}

TEST(KvCacheBlockPool, RegisteredBlocksBecomeCachedAndAHitRevivesThem) {
  BlockPool pool(2, kBlockSize);
  const BlockId block = pool.allocate();
  const std::vector<TokenId> tokens = {7, 8, 9, 10};
  ASSERT_TRUE(pool.register_block(block, key_for(tokens)));
  pool.release(block);
  expect_counts(pool, 1, 1, 0);

  const std::optional<BlockRef> hit = pool.find(key_for(tokens));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->id, block);
  pool.add_ref(hit->id);
  expect_counts(pool, 1, 0, 1);
  pool.check_invariants(std::vector<int32_t>{1, 0});
}

TEST(KvCacheBlockPool, EvictsCachedBlocksLeastRecentlyUsedFirstAndOnlyWhenNothingIsFree) {
  BlockPool pool(4, kBlockSize);
  std::vector<std::vector<TokenId>> contents = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}};
  for (const auto& tokens : contents) {
    const BlockId block = pool.allocate();
    ASSERT_TRUE(pool.register_block(block, key_for(tokens)));
  }
  // Released in the order 1, 0, 2: that is the eviction order.
  for (const BlockId block : {1, 0, 2}) pool.release(block);
  EXPECT_EQ(pool.allocate(), 3);  // the free block goes first, no eviction
  expect_counts(pool, 0, 3, 1);

  EXPECT_EQ(pool.allocate(), 1);
  EXPECT_FALSE(pool.find(key_for(contents[1])));  // evicted content is forgotten
  EXPECT_TRUE(pool.find(key_for(contents[0])));
  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_THROW(pool.allocate(), std::logic_error);
  pool.check_invariants(std::vector<int32_t>{1, 1, 1, 1});
}

TEST(KvCacheBlockPool, AHitMustMatchTheWholeKeyNotJustTheHash) {
  BlockPool pool(2, kBlockSize);
  const std::vector<TokenId> tokens = {1, 2, 3, 4};
  const BlockId block = pool.allocate();
  const PrefixKey registered = key_for(tokens);
  ASSERT_TRUE(pool.register_block(block, registered));

  const std::vector<TokenId> other_tokens = {1, 2, 3, 99};
  PrefixKey same_hash = registered;
  same_hash.tokens = other_tokens;
  EXPECT_FALSE(pool.find(same_hash));
  same_hash = registered;
  same_hash.extra_key = "tenant-b";
  EXPECT_FALSE(pool.find(same_hash));
  same_hash = registered;
  same_hash.parent = BlockRef{1, 1};
  EXPECT_FALSE(pool.find(same_hash));
  EXPECT_TRUE(pool.find(registered));
}

TEST(KvCacheBlockPool, FirstRegistrationOfAHashWins) {
  BlockPool pool(3, kBlockSize);
  const std::vector<TokenId> tokens = {1, 2, 3, 4};
  const BlockId first = pool.allocate();
  const BlockId duplicate = pool.allocate();
  const BlockId colliding = pool.allocate();
  const std::optional<BlockRef> standing = pool.register_block(first, key_for(tokens));
  ASSERT_TRUE(standing);
  // Equal content: the earlier block keeps standing for it; the duplicate stays unregistered.
  EXPECT_EQ(pool.register_block(duplicate, key_for(tokens)), standing);
  // Different content under the same hash: refused.
  const std::vector<TokenId> other_tokens = {5, 6, 7, 8};
  PrefixKey collision = key_for(tokens);
  collision.tokens = other_tokens;
  EXPECT_FALSE(pool.register_block(colliding, collision));

  for (const BlockId block : {first, duplicate, colliding}) pool.release(block);
  expect_counts(pool, 2, 1, 0);
  pool.check_invariants(std::vector<int32_t>{0, 0, 0});
}

TEST(KvCacheBlockPool, AReferenceToEvictedContentNeverMatchesTheBlocksNextContent) {
  BlockPool pool(2, kBlockSize);
  const std::vector<TokenId> head = {1, 1, 1, 1};
  const std::vector<TokenId> tail = {2, 2, 2, 2};
  const BlockId parent = pool.allocate();
  const std::optional<BlockRef> parent_ref = pool.register_block(parent, key_for(head));
  const BlockId child = pool.allocate();
  ASSERT_TRUE(pool.register_block(child, key_for(tail, *parent_ref)));
  pool.release(parent);
  pool.release(child);
  // The parent is evicted while the child stays cached; its block then holds `head` again.
  ASSERT_EQ(pool.allocate(), parent);
  const std::optional<BlockRef> new_parent_ref = pool.register_block(parent, key_for(head));
  ASSERT_TRUE(new_parent_ref);
  EXPECT_EQ(new_parent_ref->id, parent_ref->id);
  EXPECT_NE(new_parent_ref->generation, parent_ref->generation);
  // The child followed the old content, which may not have been `head` at all.
  EXPECT_FALSE(pool.find(key_for(tail, *new_parent_ref)));
  EXPECT_TRUE(pool.find(key_for(tail, *parent_ref)));
}

TEST(KvCacheBlockPool, CheckInvariantsNamesTheBrokenBlock) {
  BlockPool pool(3, kBlockSize);
  pool.allocate();
  pool.allocate();
  try {
    pool.check_invariants(std::vector<int32_t>{1, 2, 0});
    FAIL() << "expected a violation";
  } catch (const std::logic_error& violation) {
    EXPECT_NE(std::string(violation.what()).find("block 1 has refcount 1 but 2 block-table references"),
              std::string::npos)
        << violation.what();
  }
}

TEST(KvCacheBlockPool, RejectsReleasingAFreeBlockAndReferencingIt) {
  BlockPool pool(1, kBlockSize);
  EXPECT_THROW(pool.release(0), std::logic_error);
  EXPECT_THROW(pool.add_ref(0), std::logic_error);
}

TEST(KvCacheSlotPool, AllocatesReleasesAndChecksOwners) {
  SlotPool slots(2);
  const SlotId a = slots.allocate();
  const SlotId b = slots.allocate();
  EXPECT_NE(a, b);
  EXPECT_EQ(slots.num_free(), 0);
  EXPECT_THROW(slots.allocate(), std::logic_error);
  slots.release(a);
  EXPECT_THROW(slots.release(a), std::logic_error);
  std::vector<int32_t> owners(2);
  owners[b] = 1;
  slots.check_invariants(owners);
  owners[a] = 1;
  EXPECT_THROW(slots.check_invariants(owners), std::logic_error);
}

}  // namespace
}  // namespace strata::kvcache
