// The host half of a GPU step: graph buckets and padding, prefill tiles aligned to absolute
// positions, the decode list, the blocks a step completes, the packed inputs, and several cache
// groups (their slots, tables and released blocks). Runs without a GPU.
#include <gtest/gtest.h>

#include <numeric>

#include "engine/cuda/model/step_plan.h"

namespace strata::cuda {
namespace {

model::FlatBatch flat_of(const model::ForwardBatch& batch) { return model::flatten(batch, 4096, 1000, 16, model::kOnePagedGroup); }

// One cache group of n blocks (its scratch block is block n).
std::vector<int32_t> one_group(int32_t n) { return {n}; }

TEST(CudaStepPlan, DecodeStepsArePaddedToAGraphBucket) {
  std::vector<int32_t> a = {7}, b = {8}, c = {9};
  std::vector<int32_t> table_a = {0, 1}, table_b = {2}, table_c = {3, 4, 5};
  const model::ForwardBatch batch = {{a, 20, {table_a}}, {b, 3, {table_b}}, {c, 40, {table_c}}};
  const auto flat = flat_of(batch);
  const auto plan = plan_step(batch, flat, 16, one_group(10));
  EXPECT_EQ(plan.graph_bucket, 4);
  EXPECT_EQ(plan.shape.tokens, 4);
  EXPECT_EQ(plan.shape.table_width, 8);          // a power of two, at least 8
  EXPECT_EQ(plan.shape.max_keys, 8 * 16);        // a bound from the width, for the graph
  EXPECT_TRUE(plan.shape.all_outputs);
  EXPECT_TRUE(plan.tiles.empty());
  EXPECT_TRUE(plan.decode_list.empty());         // a graph step lists nothing
  std::vector<int32_t> in(plan.shape.total());
  pack_step(plan, batch, flat, 16, one_group(10), in.data());
  EXPECT_EQ(in[0], 7);
  EXPECT_EQ(in[plan.shape.positions() + 2], 40);
  EXPECT_EQ(in[plan.shape.slots(0) + 2], 5 * 16 + 40 % 16);
  EXPECT_EQ(in[plan.shape.keys() + 1], 4);
  // The padding row: one key in the scratch block, through a table row of its own.
  EXPECT_EQ(in[plan.shape.slots(0) + 3], 10 * 16);
  EXPECT_EQ(in[plan.shape.token_table() + 3], 3);
  EXPECT_EQ(in[plan.shape.keys() + 3], 1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(in[plan.shape.tables(0) + 3 * 8 + static_cast<size_t>(i)], 10);
  EXPECT_EQ(in[plan.shape.tables(0) + 1 * 8 + 0], 2);
  EXPECT_EQ(in[plan.shape.tables(0) + 1 * 8 + 1], 10);  // beyond a row's blocks: scratch
  // No token fills its block's last slot: one entry per token all the same, the scratch block.
  EXPECT_EQ(plan.shape.completed_blocks, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(in[plan.shape.completed(0) + static_cast<size_t>(i)], 10);
}

TEST(CudaStepPlan, BlocksWhoseLastSlotTheStepWritesAreListed) {
  std::vector<int32_t> prompt(40), one = {5};
  std::iota(prompt.begin(), prompt.end(), 1);
  std::vector<int32_t> table_p = {4, 2, 7}, table_d = {0, 1};
  // The decode token writes position 31, the last slot of block 1; the prompt fills blocks 4, 2.
  const model::ForwardBatch batch = {{one, 31, {table_d}}, {prompt, 0, {table_p}, model::LogitsWanted::kLast}};
  const auto flat = flat_of(batch);
  const auto plan = plan_step(batch, flat, 16, one_group(8));
  EXPECT_EQ(plan.completed_blocks[0], (std::vector<int32_t>{1, 4, 2}));
  EXPECT_EQ(plan.shape.completed_blocks, 3);
  std::vector<int32_t> in(plan.shape.total());
  pack_step(plan, batch, flat, 16, one_group(8), in.data());
  EXPECT_EQ(in[plan.shape.completed(0) + 2], 2);
}

TEST(CudaStepPlan, PrefillTilesAreAlignedToAbsolutePositionsAndDecodesAreListed) {
  std::vector<int32_t> prompt(100), one = {5};
  std::iota(prompt.begin(), prompt.end(), 1);
  std::vector<int32_t> table_p(10), table_d = {11, 12};
  std::iota(table_p.begin(), table_p.end(), 0);
  // The prompt continues at position 50 (a later chunk), beside a decode token.
  const model::ForwardBatch batch = {{one, 20, {table_d}}, {prompt, 50, {table_p}, model::LogitsWanted::kAll}};
  const auto flat = flat_of(batch);
  const auto plan = plan_step(batch, flat, 16, one_group(16));
  EXPECT_EQ(plan.graph_bucket, 0);
  EXPECT_EQ(plan.shape.tokens, 101);
  ASSERT_EQ(plan.decode_list, std::vector<int32_t>{0});
  // Positions 50..149: tiles [50, 64), [64, 128), [128, 150).
  ASSERT_EQ(plan.tiles.size(), 3u);
  EXPECT_EQ(plan.tiles[0].first_token, 1);
  EXPECT_EQ(plan.tiles[0].first_pos, 50);
  EXPECT_EQ(plan.tiles[0].count, 14);
  EXPECT_EQ(plan.tiles[1].first_pos, 64);
  EXPECT_EQ(plan.tiles[1].count, 64);
  EXPECT_EQ(plan.tiles[2].first_pos, 128);
  EXPECT_EQ(plan.tiles[2].count, 22);
  EXPECT_EQ(plan.tiles[2].table_row, 1);
  std::vector<int32_t> in(plan.shape.total());
  pack_step(plan, batch, flat, 16, one_group(16), in.data());
  EXPECT_EQ(in[plan.shape.decode_list()], 0);
  EXPECT_EQ(in[plan.shape.tiles() + 4], 15);  // the second tile's first token (flat index)
}

TEST(CudaStepPlan, BlockIdsOutsideTheCacheAreRefused) {
  std::vector<int32_t> t = {1};
  std::vector<int32_t> table = {0, 99};
  const model::ForwardBatch batch = {{t, 20, {table}}};
  const auto flat = flat_of(batch);
  EXPECT_THROW(plan_step(batch, flat, 16, one_group(32)), std::invalid_argument);
}

// A paged group of 12 blocks and a window group of 5 (sinks 4, window 16): each token has its
// cache row in each group, each group its tables and completed blocks; the window's released
// entries (-1) and padding point at the group's own scratch block.
TEST(CudaStepPlan, EachCacheGroupHasItsOwnSlotsTablesAndCompletedBlocks) {
  const kvcache::CacheKind kinds[] = {kvcache::CacheKind::kPagedKv, kvcache::CacheKind::kWindowKv};
  const std::vector<int32_t> blocks = {12, 5};
  std::vector<int32_t> a = {7}, b = {8};
  // a writes position 47, the last slot of its block 2; its window (keys 0-3 and 32-47) left block 1.
  std::vector<int32_t> paged_a = {0, 1, 2}, window_a = {3, -1, 4}, paged_b = {7}, window_b = {1};
  const model::ForwardBatch batch = {{a, 47, {paged_a, window_a}}, {b, 5, {paged_b, window_b}}};
  const auto flat = model::flatten(batch, 4096, 1000, 16, kinds);
  const auto plan = plan_step(batch, flat, 16, blocks);
  EXPECT_EQ(plan.graph_bucket, 2);
  EXPECT_EQ(plan.shape.groups, 2);
  EXPECT_EQ(plan.shape.table_width, 8);  // one width for every group: the graph's key
  EXPECT_EQ(plan.completed_blocks, (std::vector<std::vector<int32_t>>{{2}, {4}}));
  std::vector<int32_t> in(plan.shape.total());
  pack_step(plan, batch, flat, 16, blocks, in.data());
  EXPECT_EQ(in[plan.shape.slots(0) + 0], 2 * 16 + 15);
  EXPECT_EQ(in[plan.shape.slots(1) + 0], 4 * 16 + 15);
  EXPECT_EQ(in[plan.shape.slots(0) + 1], 7 * 16 + 5);
  EXPECT_EQ(in[plan.shape.slots(1) + 1], 1 * 16 + 5);
  const auto row = [&](int group, int r) {
    const auto first = in.begin() + static_cast<std::ptrdiff_t>(plan.shape.tables(group)) + r * plan.shape.table_width;
    return std::vector<int32_t>(first, first + plan.shape.table_width);
  };
  EXPECT_EQ(row(0, 0), (std::vector<int32_t>{0, 1, 2, 12, 12, 12, 12, 12}));
  EXPECT_EQ(row(1, 0), (std::vector<int32_t>{3, 5, 4, 5, 5, 5, 5, 5}));  // released: the scratch block
  EXPECT_EQ(row(1, 1), (std::vector<int32_t>{1, 5, 5, 5, 5, 5, 5, 5}));
  // Padded to the bucket, each group with its own scratch block.
  EXPECT_EQ(plan.shape.completed_blocks, 2);
  EXPECT_EQ(std::vector<int32_t>(in.begin() + static_cast<std::ptrdiff_t>(plan.shape.completed(0)),
                                 in.begin() + static_cast<std::ptrdiff_t>(plan.shape.completed(1))),
            (std::vector<int32_t>{2, 12}));
  EXPECT_EQ(std::vector<int32_t>(in.begin() + static_cast<std::ptrdiff_t>(plan.shape.completed(1)), in.end()),
            (std::vector<int32_t>{4, 5}));
  // Block ids are checked against their own group's pool; -1 is the only negative one.
  std::vector<int32_t> window_5 = {3, -1, 5}, window_minus_2 = {3, -2, 4};
  for (const auto& bad : {window_5, window_minus_2}) {
    const model::ForwardBatch refused = {{a, 47, {paged_a, bad}}};
    EXPECT_THROW(plan_step(refused, model::flatten(refused, 4096, 1000, 16, kinds), 16, blocks), std::invalid_argument);
  }
}

// A paged group and an evicting group with a budget of 2 blocks: each table row gets an EvictRow
// in the evicting group -- its compacted layout (attention::compacted_layout of its table), its
// prompt's end and its tokens -- and zeros in the paged group; a compacted sequence's tokens are
// listed for the split-KV kernel, not tiled; a model without an evicting group packs none.
TEST(CudaStepPlan, EvictingGroupsGetEachRowsLayoutPromptEndAndTokens) {
  const kvcache::CacheKind kinds[] = {kvcache::CacheKind::kPagedKv, kvcache::CacheKind::kEvictingKv};
  const std::vector<int32_t> blocks = {16, 16}, budgets = {0, 2};
  std::vector<int32_t> a = {7, 8, 9}, b = {4, 5};
  // a: a 3-token chunk at 20 of a 30-token prompt, never compacted. b: compacted (its blocks 2-3
  // emptied), writing positions 70-71 in block 4 (recomputed after a preemption).
  std::vector<int32_t> paged_a = {0, 1}, evict_a = {5, 6}, paged_b = {2, 3, 4, 8, 9}, evict_b = {10, 11, -1, -1, 12};
  model::ForwardBatch batch = {{a, 20, {paged_a, evict_a}}, {b, 70, {paged_b, evict_b}}};
  batch[0].prompt_tokens = 30;
  batch[1].prompt_tokens = 40;
  const auto flat = model::flatten(batch, 4096, 1000, 16, kinds);
  const auto plan = plan_step(batch, flat, 16, blocks, budgets);
  ASSERT_EQ(plan.shape.evict_rows, 2);
  EXPECT_EQ(plan.tiles.size(), 1u);  // a's
  EXPECT_EQ(plan.decode_list, (std::vector<int32_t>{3, 4}));
  std::vector<int32_t> in(plan.shape.total());
  pack_step(plan, batch, flat, 16, blocks, in.data(), budgets);
  const auto* paged_rows = reinterpret_cast<const EvictRow*>(in.data() + plan.shape.evict_rows_of(0));
  const auto* evict_rows = reinterpret_cast<const EvictRow*>(in.data() + plan.shape.evict_rows_of(1));
  const auto fields = [](const EvictRow& r) {
    return std::vector<int32_t>{r.packed_end, r.natural_begin, r.prompt_end, r.first_token, r.tokens};
  };
  EXPECT_EQ(fields(paged_rows[0]), (std::vector<int32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(fields(evict_rows[0]), (std::vector<int32_t>{0, 0, 30, 0, 3}));
  EXPECT_EQ(fields(evict_rows[1]), (std::vector<int32_t>{32, 64, 40, 3, 2}));
  const auto unevicted = plan_step(batch, flat, 16, blocks);
  EXPECT_EQ(unevicted.shape.evict_rows, 0);
  EXPECT_EQ(unevicted.tiles.size(), 2u);
  EXPECT_TRUE(unevicted.decode_list.empty());
}

}  // namespace
}  // namespace strata::cuda
