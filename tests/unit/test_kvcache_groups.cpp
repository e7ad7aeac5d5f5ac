// Cache groups beyond one paged_kv group: the budget split and config refusals, window_kv and
// evicting_kv releasing blocks, recurrent_state slots, and byte-weighted usage.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kvcache/kv_cache_manager.h"

namespace strata::kvcache {
namespace {

const CacheGroupSpec kPaged{.kind = CacheKind::kPagedKv, .block_size = 16, .bytes_per_token = 100};
const CacheGroupSpec kWindow{
    .kind = CacheKind::kWindowKv, .block_size = 16, .bytes_per_token = 100, .window_tokens = 64};
const CacheGroupSpec kState{.kind = CacheKind::kRecurrentState, .bytes_per_sequence = 5000};

std::vector<TokenId> tokens(int count) { return std::vector<TokenId>(count, 7); }

std::vector<BlockId> table_of(const KvCacheManager& kv, SeqId seq, int group) {
  const std::span<const BlockId> table = kv.block_table(seq, group);
  return {table.begin(), table.end()};
}

TEST(KvCacheConfig, BudgetIsSplitByWhatATypicalSequenceKeepsResident) {
  KvCacheConfig config;
  config.groups = {kPaged, kWindow, kState};
  config.typical_sequence_tokens = 1024;
  config.enable_prefix_cache = false;
  // A typical sequence keeps 64 blocks of 1600 bytes in the paged group, 64/16 + 1 = 5 in the
  // window group and one 5000-byte slot: 115400 bytes. A budget of 10 such sequences:
  config.memory_budget_bytes = 10 * 115400;
  EXPECT_EQ(plan_capacities(config), (std::vector<int32_t>{640, 50, 10}));

  config.num_blocks = 7;
  EXPECT_EQ(plan_capacities(config), (std::vector<int32_t>{7, 7, 7}));
}

void expect_refused(const KvCacheConfig& config, const std::string& reason) {
  try {
    plan_capacities(config);
    FAIL() << "expected refusal: " << reason;
  } catch (const std::invalid_argument& refusal) {
    EXPECT_NE(std::string(refusal.what()).find(reason), std::string::npos) << refusal.what();
  }
}

TEST(KvCacheConfig, RefusesBadConfigsWithAReason) {
  KvCacheConfig config;
  config.memory_budget_bytes = 1 << 20;
  expect_refused(config, "no cache groups");
  config.groups = {kPaged, kWindow};
  expect_refused(config, "prefix cache serves paged_kv groups only");
  config.enable_prefix_cache = false;
  config.groups[1].window_tokens = 0;
  expect_refused(config, "window_kv needs window_tokens > 0");
  config.groups = {kPaged, CacheGroupSpec{.kind = CacheKind::kEvictingKv, .bytes_per_token = 10}};
  expect_refused(config, "evicting_kv needs token_budget > 0");
  config.groups = {kState};
  config.groups[0].bytes_per_sequence = 0;
  expect_refused(config, "bytes_per_sequence > 0");
  config.groups = {kPaged};
  config.memory_budget_bytes = 1000;  // less than one 1600-byte block
  expect_refused(config, "leaves it no block");
  config.memory_budget_bytes = 0;
  expect_refused(config, "memory_budget_bytes");
}

// One window_kv group: blocks of 4 tokens, a window of 8, 4 sink tokens.
KvCacheConfig sink_window_cache(int32_t num_blocks) {
  KvCacheConfig config;
  config.groups = {CacheGroupSpec{
      .kind = CacheKind::kWindowKv, .block_size = 4, .bytes_per_token = 8, .window_tokens = 8, .sink_tokens = 4}};
  config.num_blocks = num_blocks;
  config.enable_prefix_cache = false;
  return config;
}

// A window group must hold the whole prompt at admission, then only sinks + window + one block:
// a sequence may grow far past the group's capacity.
TEST(KvCacheWindow, FitsAloneBoundsGrowthByTheWindow) {
  KvCacheManager kv(sink_window_cache(6));
  EXPECT_TRUE(kv.fits_alone(8, 10000));    // 1 sink + 2 window + 1 blocks resident
  EXPECT_TRUE(kv.fits_alone(24, 10000));   // a 6-block prompt
  EXPECT_FALSE(kv.fits_alone(25, 10000));  // a 7-block prompt
}

TEST(KvCacheWindow, ReleasesBlocksThatLeaveTheWindowButKeepsSinks) {
  KvCacheManager kv(sink_window_cache(8));
  std::vector<CopyOp> copies;

  ASSERT_EQ(kv.allocate(1, tokens(20)), 0);
  EXPECT_EQ(kv.usage(0).used, 5);
  kv.commit(1, tokens(10));  // the next token, at 10, reads back to 2: nothing is out yet
  EXPECT_EQ(kv.usage(0).used, 5);
  kv.commit(1, tokens(10));  // next at 20 reads back to 12: blocks 1 and 2 are out, 0 is a sink
  EXPECT_EQ(table_of(kv, 1, 0), (std::vector<BlockId>{0, kNoBlock, kNoBlock, 3, 4}));
  EXPECT_EQ(kv.usage(0).used, 3);
  kv.check_invariants();

  // Decoding keeps the group bounded: sink + window + the block being written.
  for (int step = 0; step < 40; ++step) {
    ASSERT_TRUE(kv.append(1, 1, copies));
    kv.commit(1, tokens(1));
    EXPECT_LE(kv.usage(0).used, 1 + 8 / 4 + 1);
    kv.check_invariants();
  }
  EXPECT_EQ(kv.block_table(1, 0).size(), 15u);  // still indexed by position / block_size
  kv.free(1);
  EXPECT_EQ(kv.usage(0).free, 8);
  kv.check_invariants();
}

TEST(KvCacheWindow, ForkedSequencesReleaseTheirOwnReferences) {
  KvCacheConfig config;
  config.groups = {
      CacheGroupSpec{.kind = CacheKind::kWindowKv, .block_size = 4, .bytes_per_token = 8, .window_tokens = 4}};
  config.num_blocks = 16;
  config.enable_prefix_cache = false;
  KvCacheManager kv(config);
  std::vector<CopyOp> copies;
  ASSERT_TRUE(kv.allocate(1, tokens(8)));
  kv.commit(1, tokens(8));
  ASSERT_TRUE(kv.fork(1, 2, copies));
  for (const SeqId seq : {1, 2}) {
    ASSERT_TRUE(kv.append(seq, 8, copies));
    kv.commit(seq, tokens(8));
  }
  // The next token, at 16, reads back to 12: blocks 0 and 1 (shared) and 2 (each its own) are
  // out of both windows; the shared block is free once both dropped it.
  EXPECT_EQ(table_of(kv, 1, 0).size(), 4u);
  for (const SeqId seq : {1, 2}) {
    EXPECT_EQ(table_of(kv, seq, 0)[0], kNoBlock);
    EXPECT_EQ(table_of(kv, seq, 0)[1], kNoBlock);
    EXPECT_EQ(table_of(kv, seq, 0)[2], kNoBlock);
  }
  EXPECT_NE(table_of(kv, 1, 0)[3], table_of(kv, 2, 0)[3]);
  EXPECT_EQ(kv.usage(0).used, 2);
  kv.check_invariants();
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.usage(0).used, 0);
  kv.check_invariants();
}

TEST(KvCacheEvicting, ReleasesTheBlocksTheEngineCompactedAway) {
  KvCacheConfig config;
  config.groups = {
      kPaged, CacheGroupSpec{.kind = CacheKind::kEvictingKv, .block_size = 4, .bytes_per_token = 8, .token_budget = 8}};
  config.groups[0].block_size = 4;
  config.num_blocks = 8;
  config.enable_prefix_cache = false;
  KvCacheManager kv(config);

  ASSERT_TRUE(kv.allocate(1, tokens(18)));
  kv.commit(1, tokens(14));
  const std::vector<int32_t> compacted = {1, 2};
  kv.release_compacted(1, 1, compacted);
  EXPECT_EQ(kv.block_table(1, 1)[1], kNoBlock);
  EXPECT_EQ(kv.block_table(1, 1)[2], kNoBlock);
  EXPECT_EQ(kv.usage(1).used, 3);
  EXPECT_EQ(kv.usage(0).used, 5);  // the paged group is untouched
  kv.check_invariants();

  EXPECT_THROW(kv.release_compacted(1, 1, std::vector<int32_t>{1}), std::invalid_argument);     // released already
  EXPECT_THROW(kv.release_compacted(1, 1, std::vector<int32_t>{3}), std::invalid_argument);     // not all committed
  EXPECT_THROW(kv.release_compacted(1, 1, std::vector<int32_t>{0, 0}), std::invalid_argument);  // twice
  EXPECT_THROW(kv.release_compacted(1, 0, std::vector<int32_t>{0}), std::invalid_argument);     // paged group
  EXPECT_EQ(kv.usage(1).used, 3);
  std::vector<CopyOp> copies;
  kv.commit(1, tokens(4));
  EXPECT_THROW(kv.fork(1, 2, copies), std::invalid_argument);  // compaction rewrites blocks in place
  kv.free(1);
  kv.check_invariants();
}

TEST(KvCacheState, SlotsPerSequenceCopiedOnForkAndShortSlotsFailClean) {
  KvCacheConfig config;
  config.groups = {kPaged, kState};
  config.num_blocks = 2;
  config.enable_prefix_cache = false;
  KvCacheManager kv(config);
  std::vector<CopyOp> copies;

  ASSERT_TRUE(kv.allocate(1, tokens(5)));
  kv.commit(1, tokens(5));
  ASSERT_TRUE(kv.fork(1, 2, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], (CopyOp{1, kv.state_slot(1, 1), kv.state_slot(2, 1)}));
  EXPECT_NE(kv.state_slot(1, 1), kv.state_slot(2, 1));
  EXPECT_EQ(kv.usage(1).used, 2);

  EXPECT_FALSE(kv.fork(1, 3, copies));  // no slot left
  EXPECT_FALSE(kv.contains(3));
  kv.free(2);
  EXPECT_FALSE(kv.allocate(4, tokens(20)));  // a slot is free but blocks are short
  EXPECT_EQ(kv.usage(1).used, 1);
  EXPECT_THROW(kv.state_slot(1, 0), std::invalid_argument);
  EXPECT_THROW(kv.block_table(1, 1), std::invalid_argument);
  kv.check_invariants();
}

TEST(KvCacheUsage, FractionWeighsGroupsByTheirBytes) {
  KvCacheConfig config;
  config.groups = {kPaged, kState};
  config.num_blocks = 4;  // 4 blocks of 1600 bytes and 4 slots of 5000 bytes
  config.enable_prefix_cache = false;
  KvCacheManager kv(config);
  ASSERT_TRUE(kv.allocate(1, tokens(17)));  // 2 blocks, 1 slot
  EXPECT_DOUBLE_EQ(kv.usage_fraction(), (2 * 1600.0 + 5000.0) / (4 * 1600.0 + 4 * 5000.0));
}

}  // namespace
}  // namespace strata::kvcache
