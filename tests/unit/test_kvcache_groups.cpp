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

// Without max_step_tokens a window group must hold the whole prompt at admission, then only
// sinks + window + one block: a sequence may grow far past the group's capacity.
TEST(KvCacheWindow, FitsAloneBoundsGrowthByTheWindow) {
  KvCacheManager kv(sink_window_cache(6));
  EXPECT_TRUE(kv.fits_alone(8, 10000));    // 1 sink + 2 window + 1 blocks resident
  EXPECT_TRUE(kv.fits_alone(24, 10000));   // a 6-block prompt
  EXPECT_FALSE(kv.fits_alone(25, 10000));  // a 7-block prompt
}

// With max_step_tokens (the scheduler's chunk), a window group takes blocks step by step: a
// prompt far longer than the group is admitted and prefilled holding at most sinks + window +
// one step, and the blocks its later steps need are promised, so nobody admitted meanwhile can
// take them.
TEST(KvCacheWindow, ChunkedPrefillHoldsSinksWindowAndOneStep) {
  KvCacheConfig config = sink_window_cache(10);
  config.max_step_tokens = 8;
  KvCacheManager kv(config);
  const CacheGroupSpec& spec = kv.group_spec(0);
  const int64_t bound = 1 + (8 + 8 - 1 + 3) / 4 + 1;  // 1 sink block + 4 blocks of window + step + 1
  ASSERT_EQ(window_step_units(spec, 200, 8), bound);
  EXPECT_EQ(window_step_units(spec, 200, 1), resident_units(spec, 200));
  EXPECT_TRUE(kv.fits_alone(200, 300));  // 50 blocks of prompt in a 10-block group
  EXPECT_FALSE(KvCacheManager(sink_window_cache(10)).fits_alone(200, 300));  // every block at once

  ASSERT_EQ(kv.allocate(1, tokens(200)), 0);
  EXPECT_EQ(kv.usage(0).used, 2);  // the first step's 8 tokens
  EXPECT_EQ(kv.usage(0).promised, bound - 2);
  EXPECT_EQ(kv.usage(0).available(), 10 - bound);
  kv.check_invariants();
  EXPECT_FALSE(kv.allocate(2, tokens(40)));  // its bound (6 blocks) needs more than the 4 left
  ASSERT_EQ(kv.allocate(3, tokens(12)), 0);  // 2 blocks for its first step, 1 promised
  EXPECT_EQ(kv.usage(0).available(), 10 - bound - 3);

  for (int64_t committed = 0; committed < 200; committed += 8) {
    const std::vector<BlockId> table = table_of(kv, 1, 0);
    for (int64_t b = committed / 4; b < (committed + 8) / 4; ++b) EXPECT_NE(table[b], kNoBlock) << "block " << b;
    kv.commit(1, tokens(8));
    EXPECT_LE(kv.usage(0).used - 2, bound);
    kv.check_invariants();
  }
  EXPECT_EQ(kv.usage(0).promised, 1);  // sequence 3's
  std::vector<CopyOp> copies;
  EXPECT_THROW(kv.append(1, 9, copies), std::invalid_argument);  // more than one step writes
  EXPECT_THROW(kv.commit(3, tokens(9)), std::invalid_argument);  // reserved, but past one step
  for (int step = 0; step < 20; ++step) {  // decode: sinks + window + one block
    ASSERT_TRUE(kv.append(1, 1, copies));
    kv.commit(1, tokens(1));
    EXPECT_LE(kv.usage(0).used - 2, resident_units(spec, 221));
  }
  kv.free(1);
  kv.free(3);
  EXPECT_EQ(kv.usage(0).free, 10);
  EXPECT_EQ(kv.usage(0).promised, 0);
  kv.check_invariants();
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
