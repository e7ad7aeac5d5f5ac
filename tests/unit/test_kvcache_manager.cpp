// KvCacheManager over one paged_kv group: allocation, append, copy-on-write, fork, commit,
// prefix hits and their counters, LRU reuse, clean failure, and collision safety.
#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>
#include <vector>

#include "kvcache/kv_cache_manager.h"

namespace strata::kvcache {
namespace {

constexpr int32_t kBlockSize = 4;

KvCacheManager paged_cache(int32_t num_blocks, BlockHasher hasher = sha256_block_hash) {
  KvCacheConfig config;
  config.groups = {CacheGroupSpec{.kind = CacheKind::kPagedKv, .block_size = kBlockSize, .bytes_per_token = 64}};
  config.num_blocks = num_blocks;
  return KvCacheManager(config, std::move(hasher));
}

// Tokens first, first + 1, ... (distinct blocks hash differently).
std::vector<TokenId> tokens_from(TokenId first, int count) {
  std::vector<TokenId> tokens(count);
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

std::vector<TokenId> concat(std::vector<TokenId> head, const std::vector<TokenId>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

std::vector<BlockId> table_of(const KvCacheManager& kv, SeqId seq) {
  const std::span<const BlockId> table = kv.block_table(seq, 0);
  return {table.begin(), table.end()};
}

// Allocates and commits the whole prompt, as a finished prefill does.
void prefill(KvCacheManager& kv, SeqId seq, const std::vector<TokenId>& prompt, std::string_view extra_key = {}) {
  const std::optional<int64_t> cached = kv.allocate(seq, prompt, extra_key);
  ASSERT_TRUE(cached);
  kv.commit(seq, std::span(prompt).subspan(*cached));
}

TEST(KvCacheManager, AllocateReservesBlocksForThePrompt) {
  KvCacheManager kv = paged_cache(8);
  EXPECT_EQ(kv.allocate(1, tokens_from(0, 9)), 0);
  EXPECT_EQ(table_of(kv, 1), (std::vector<BlockId>{0, 1, 2}));
  EXPECT_EQ(kv.num_tokens(1), 9);
  EXPECT_EQ(kv.usage(0).used, 3);
  EXPECT_EQ(kv.usage(0).free, 5);
  EXPECT_DOUBLE_EQ(kv.usage_fraction(), 3.0 / 8.0);
  kv.check_invariants();
  kv.free(1);
  EXPECT_FALSE(kv.contains(1));
  EXPECT_EQ(kv.usage(0).free, 8);
  EXPECT_DOUBLE_EQ(kv.usage_fraction(), 0.0);
  kv.check_invariants();
}

TEST(KvCacheManager, AppendGrowsBlockByBlock) {
  KvCacheManager kv = paged_cache(3);
  std::vector<CopyOp> copies;
  ASSERT_TRUE(kv.allocate(1, tokens_from(0, 3)));
  EXPECT_TRUE(kv.append(1, 1, copies));  // fills block 0
  EXPECT_EQ(table_of(kv, 1).size(), 1u);
  EXPECT_TRUE(kv.append(1, 5, copies));  // two more blocks
  EXPECT_EQ(table_of(kv, 1).size(), 3u);
  EXPECT_EQ(kv.num_tokens(1), 9);
  EXPECT_TRUE(copies.empty());
  kv.check_invariants();
}

TEST(KvCacheManager, FailuresChangeNothing) {
  KvCacheManager kv = paged_cache(4);
  std::vector<CopyOp> copies;
  ASSERT_TRUE(kv.allocate(1, tokens_from(0, 12)));
  EXPECT_FALSE(kv.allocate(2, tokens_from(100, 5)));  // needs 2, 1 left
  EXPECT_FALSE(kv.contains(2));
  EXPECT_FALSE(kv.can_append(1, 5));
  EXPECT_FALSE(kv.append(1, 5, copies));
  EXPECT_EQ(kv.num_tokens(1), 12);
  EXPECT_EQ(kv.usage(0).used, 3);
  EXPECT_EQ(kv.prefix_cache_counters().queried_tokens, 12);
  EXPECT_TRUE(kv.append(1, 4, copies));
  kv.check_invariants();
}

TEST(KvCacheManager, MisuseThrows) {
  KvCacheManager kv = paged_cache(4);
  std::vector<CopyOp> copies;
  ASSERT_TRUE(kv.allocate(1, tokens_from(0, 5)));
  EXPECT_THROW(kv.allocate(1, tokens_from(0, 5)), std::invalid_argument);
  EXPECT_THROW(kv.allocate(2, {}), std::invalid_argument);
  EXPECT_THROW(kv.commit(1, tokens_from(0, 6)), std::invalid_argument);
  EXPECT_THROW(kv.free(7), std::invalid_argument);
  EXPECT_THROW(kv.append(7, 1, copies), std::invalid_argument);
  EXPECT_THROW(kv.fork(1, 2, copies), std::invalid_argument);  // prompt not committed yet
  kv.commit(1, tokens_from(0, 5));
  EXPECT_THROW(kv.fork(1, 1, copies), std::invalid_argument);
  EXPECT_THROW(kv.release_compacted(1, 0, std::vector<int32_t>{0}), std::invalid_argument);  // paged group
  kv.check_invariants();
}

TEST(KvCacheManager, PrefixHitSharesFullBlocksWhileTheFirstSequenceRuns) {
  KvCacheManager kv = paged_cache(16);
  const std::vector<TokenId> shared = tokens_from(0, 8);
  prefill(kv, 1, concat(shared, {50, 51}));
  EXPECT_EQ(kv.allocate(2, concat(shared, {60, 61, 62})), 8);
  EXPECT_EQ(table_of(kv, 2)[0], table_of(kv, 1)[0]);
  EXPECT_EQ(table_of(kv, 2)[1], table_of(kv, 1)[1]);
  EXPECT_NE(table_of(kv, 2)[2], table_of(kv, 1)[2]);
  EXPECT_EQ(kv.prefix_cache_counters().queried_tokens, 10 + 11);
  EXPECT_EQ(kv.prefix_cache_counters().hit_tokens, 8);
  EXPECT_EQ(kv.usage(0).used, 4);
  kv.check_invariants();
}

TEST(KvCacheManager, CommitRegistersBlocksAsTheyFill) {
  KvCacheManager kv = paged_cache(16);
  const std::vector<TokenId> prompt = tokens_from(0, 12);
  ASSERT_EQ(kv.allocate(1, prompt), 0);
  kv.commit(1, std::span(prompt).first(6));  // a prefill chunk: block 0 is full, block 1 not
  EXPECT_EQ(kv.allocate(2, prompt), 4);
  kv.commit(1, std::span(prompt).subspan(6));
  EXPECT_EQ(kv.allocate(3, prompt), 8);  // the last token is always computed
  kv.check_invariants();
}

TEST(KvCacheManager, AFullyCachedPromptStillComputesItsLastBlock) {
  KvCacheManager kv = paged_cache(16);
  const std::vector<TokenId> prompt = tokens_from(0, 8);
  prefill(kv, 1, prompt);
  kv.free(1);
  EXPECT_EQ(kv.allocate(2, prompt), 4);
  // The recomputed block duplicates a registered one: it stays unregistered and frees clean.
  kv.commit(2, std::span(prompt).subspan(4));
  kv.free(2);
  EXPECT_EQ(kv.usage(0).cached, 2);
  EXPECT_EQ(kv.usage(0).free, 14);
  kv.check_invariants();
}

TEST(KvCacheManager, ExtraKeySeparatesCaches) {
  KvCacheManager kv = paged_cache(16);
  const std::vector<TokenId> prompt = tokens_from(0, 9);
  prefill(kv, 1, prompt, "tenant-a");
  EXPECT_EQ(kv.allocate(2, prompt, "tenant-b"), 0);
  EXPECT_EQ(kv.allocate(3, prompt), 0);
  EXPECT_EQ(kv.allocate(4, prompt, "tenant-a"), 8);
  kv.check_invariants();
}

TEST(KvCacheManager, FreedPrefixesStayReusableAndAreEvictedTailFirst) {
  KvCacheManager kv = paged_cache(4);
  const std::vector<TokenId> prompt = tokens_from(0, 13);  // 4 blocks, 3 of them full
  prefill(kv, 1, prompt);
  kv.free(1);
  EXPECT_EQ(kv.usage(0).cached, 3);
  EXPECT_EQ(kv.usage(0).free, 1);
  EXPECT_DOUBLE_EQ(kv.usage_fraction(), 0.0);

  // Two blocks for an unrelated prompt: the free one, then the prefix's tail block.
  ASSERT_EQ(kv.allocate(2, tokens_from(100, 8)), 0);
  EXPECT_EQ(kv.usage(0).cached, 2);
  EXPECT_EQ(kv.allocate(3, prompt), std::nullopt);  // 2 cached hits + 2 fresh > 2 available
  kv.free(2);
  EXPECT_EQ(kv.allocate(3, prompt), 8);
  EXPECT_EQ(kv.prefix_cache_counters().hit_tokens, 8);
  kv.check_invariants();
}

TEST(KvCacheManager, RevivingCachedBlocksCountsAgainstAvailableBlocks) {
  KvCacheManager kv = paged_cache(4);
  const std::vector<TokenId> head = tokens_from(0, 8);
  prefill(kv, 1, concat(head, {9}));
  kv.free(1);                                                                 // 2 cached, 2 free
  EXPECT_EQ(kv.allocate(2, concat(head, tokens_from(20, 9))), std::nullopt);  // 2 hits + 3 fresh
  EXPECT_EQ(kv.allocate(2, concat(head, tokens_from(20, 8))), 8);             // 2 hits + 2 fresh
  EXPECT_EQ(kv.usage(0).available(), 0);
  kv.check_invariants();
}

TEST(KvCacheManager, ForkSharesBlocksAndAppendCopiesTheSharedPartialBlock) {
  KvCacheManager kv = paged_cache(8);
  std::vector<CopyOp> copies;
  prefill(kv, 1, tokens_from(0, 6));
  ASSERT_TRUE(kv.fork(1, 2, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(table_of(kv, 2), table_of(kv, 1));
  EXPECT_EQ(kv.usage(0).used, 2);
  kv.check_invariants();

  const BlockId shared_partial = table_of(kv, 1)[1];
  ASSERT_TRUE(kv.append(2, 1, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], (CopyOp{0, shared_partial, table_of(kv, 2)[1]}));
  EXPECT_NE(table_of(kv, 2)[1], shared_partial);
  EXPECT_EQ(table_of(kv, 2)[0], table_of(kv, 1)[0]);
  EXPECT_EQ(table_of(kv, 1)[1], shared_partial);
  kv.check_invariants();

  copies.clear();
  ASSERT_TRUE(kv.append(1, 1, copies));  // the parent's partial block is its own now
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(table_of(kv, 1)[1], shared_partial);
  kv.check_invariants();
}

TEST(KvCacheManager, ForkAtABlockBoundaryCopiesNothing) {
  KvCacheManager kv = paged_cache(8);
  std::vector<CopyOp> copies;
  prefill(kv, 1, tokens_from(0, 8));
  ASSERT_TRUE(kv.fork(1, 2, copies));
  ASSERT_TRUE(kv.append(2, 1, copies));
  ASSERT_TRUE(kv.append(1, 1, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_NE(table_of(kv, 1)[2], table_of(kv, 2)[2]);
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.usage(0).used, 0);
  kv.check_invariants();
}

TEST(KvCacheManager, CopyOnWriteNeedsABlockAndFailsCleanWithout) {
  KvCacheManager kv = paged_cache(2);
  std::vector<CopyOp> copies;
  prefill(kv, 1, tokens_from(0, 6));
  ASSERT_TRUE(kv.fork(1, 2, copies));
  EXPECT_FALSE(kv.can_append(2, 1));
  EXPECT_FALSE(kv.append(2, 1, copies));
  EXPECT_TRUE(copies.empty());
  kv.free(1);
  EXPECT_TRUE(kv.append(2, 1, copies));  // the partial block is no longer shared
  EXPECT_TRUE(copies.empty());
  kv.check_invariants();
}

TEST(KvCacheManager, DecodedBlocksAreRegisteredToo) {
  KvCacheManager kv = paged_cache(8);
  std::vector<CopyOp> copies;
  const std::vector<TokenId> prompt = tokens_from(0, 3);
  prefill(kv, 1, prompt);
  ASSERT_TRUE(kv.append(1, 2, copies));
  kv.commit(1, std::vector<TokenId>{3, 4});  // block 0 now holds 0..3
  EXPECT_EQ(kv.allocate(2, tokens_from(0, 6)), 4);
  kv.check_invariants();
}

// A degenerate hasher: every block of every prompt lands on one hash.
BlockHash constant_hash(const BlockHash&, std::span<const TokenId>, std::string_view) { return BlockHash{}; }

TEST(KvCacheManager, CollidingHashesNeverServeAnotherPromptsBlocks) {
  KvCacheManager kv = paged_cache(16, constant_hash);
  const std::vector<TokenId> x = tokens_from(0, 4);
  const std::vector<TokenId> y = tokens_from(10, 4);
  prefill(kv, 1, concat(concat(x, y), {99}));

  EXPECT_EQ(kv.allocate(2, concat(y, {99})), 0);              // same hash, other tokens
  EXPECT_EQ(kv.allocate(3, concat(x, {99}), "tenant-b"), 0);  // same tokens, other salt
  EXPECT_EQ(kv.allocate(4, concat(concat(x, y), {99})), 4);   // y's block: hash taken by x's
  EXPECT_EQ(kv.allocate(5, concat(concat(x, x), {99})), 4);   // x again, but after x: other parent
  EXPECT_EQ(kv.prefix_cache_counters().hit_tokens, 8);
  kv.check_invariants();
}

TEST(KvCacheManager, FitsAloneComparesWithTheWholeCache) {
  KvCacheManager kv = paged_cache(4);
  EXPECT_TRUE(kv.fits_alone(16, 16));
  EXPECT_FALSE(kv.fits_alone(16, 17));
  EXPECT_FALSE(kv.fits_alone(17, 17));
}

}  // namespace
}  // namespace strata::kvcache
