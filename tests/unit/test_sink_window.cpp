// sink_window and window_kv cache groups on the real models: chunked prefill equals one shot,
// a ragged batch equals each sequence alone, and releasing the pages that leave a window (with
// the released blocks immediately rewritten by another sequence) changes no logit -- for
// SmolLM2 under sink_window and for Gemma 3's trained sliding layers as window_kv groups, whose
// logits equal today's masked full cache. Through the scheduler: greedy tokens of prompts shorter
// than the window equal `full`'s, and KV blocks per sequence stop growing past the window.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "engine/model/cpu_model_runner.h"
#include "kvcache/kv_cache_manager.h"
#include "scheduler/scheduler.h"
#include "tests/unit/sequence_runs.h"
#include "tests/unit/served_run.h"
#include "tests/unit/test_paths.h"

namespace strata {
namespace {

constexpr int32_t kBlockSize = 16;

const char* kSinkWindow = R"({"layers": {"*": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 40}}})";
const char* kGemmaNative = R"({"layers": {"*": {"backend": "full", "release_outside_window": true}}})";

using test::logits_alone;

// How logits_through_kvcache admits the sequence.
enum class Admission {
  kGrowing,     // one token, then each chunk appended before its step
  kWholeChunk,  // every token at once, the chunk as max_step_tokens (as the scheduler admits a prompt)
};

// The same sequence through kvcache's groups in chunks, window groups releasing blocks as it
// commits; after every step a second sequence takes the free blocks and writes its own K/V into
// them, so a read of a released block would change the logits.
std::vector<float> logits_through_kvcache(model::DecoderModel& m, std::span<const int32_t> tokens, size_t chunk,
                                          std::mt19937& rng, model::LogitsWanted wanted = model::LogitsWanted::kAll,
                                          Admission admission = Admission::kGrowing) {
  kvcache::KvCacheConfig config;
  config.groups = m.attention_plan().cache_group_specs(kBlockSize);
  config.num_blocks = static_cast<int32_t>(tokens.size() / kBlockSize + 8);
  config.enable_prefix_cache = false;
  if (admission == Admission::kWholeChunk) config.max_step_tokens = static_cast<int64_t>(chunk);
  kvcache::KvCacheManager kv(config);
  std::vector<int32_t> capacities;
  for (int g = 0; g < kv.num_groups(); ++g) capacities.push_back(kv.usage(g).capacity);
  model::CpuModelRunner runner(m, capacities, kBlockSize);
  const auto tables = [&](kvcache::SeqId seq) {
    std::vector<std::span<const int32_t>> out;
    for (int g = 0; g < kv.num_groups(); ++g) out.push_back(kv.block_table(seq, g));
    return out;
  };

  std::vector<float> out;
  std::vector<kvcache::CopyOp> copies;
  EXPECT_TRUE(kv.allocate(1, admission == Admission::kGrowing ? tokens.first(1) : tokens));
  kvcache::SeqId noise = 2;
  for (size_t at = 0; at < tokens.size(); at += chunk) {
    const auto piece = tokens.subspan(at, std::min(chunk, tokens.size() - at));
    if (admission == Admission::kGrowing) {
      EXPECT_TRUE(kv.append(1, static_cast<int64_t>(at + piece.size()) - kv.num_tokens(1), copies));
    }
    const auto logits = runner.forward({{piece, static_cast<int32_t>(at), tables(1), wanted}});
    out.insert(out.end(), logits.begin(), logits.end());
    std::vector<int32_t> used_before;
    for (int g = 0; g < kv.num_groups(); ++g) used_before.push_back(kv.usage(g).used);
    kv.commit(1, piece);
    // Fill what the commit released with another sequence's K/V: the free lists are LIFO, so
    // the blocks just released are the first taken.
    int32_t released = 0;
    for (int g = 0; g < kv.num_groups(); ++g) released = std::max(released, used_before[static_cast<size_t>(g)] - kv.usage(g).used);
    for (int g = 0; g < kv.num_groups(); ++g) released = std::min(released, kv.usage(g).available());
    // Admitted whole, the filler is one step too (its blocks are all taken at once).
    if (admission == Admission::kWholeChunk) released = std::min(released, static_cast<int32_t>(chunk) / kBlockSize);
    if (released > 0) {
      const auto filler = test::random_tokens(rng, static_cast<size_t>(released) * kBlockSize, m.config().vocab_size);
      EXPECT_TRUE(kv.allocate(noise, filler));
      runner.forward({{filler, 0, tables(noise), model::LogitsWanted::kNone}});
      kv.free(noise++);
    }
    kv.check_invariants();
  }
  return out;
}

class WindowedModel : public ::testing::Test {
 protected:
  static std::unique_ptr<model::DecoderModel> load(const std::string& path, const std::string& json) {
    files.push_back(gguf::GgufFile::open(path));
    return std::make_unique<model::DecoderModel>(*files.back(), 2, test::layout(json));
  }
  static void TearDownTestSuite() { files.clear(); }
  static inline std::vector<std::unique_ptr<gguf::GgufFile>> files;
};

TEST_F(WindowedModel, SinkWindowChunkedRaggedAndReleasedEqualOneShot) {
  auto m = load(test::default_model_path(), kSinkWindow);
  ASSERT_EQ(m->attention_plan().groups.size(), 1u);
  ASSERT_EQ(m->attention_plan().groups[0].kind, kvcache::CacheKind::kWindowKv);
  std::mt19937 rng(7);
  const auto tokens = test::random_tokens(rng, 110, m->config().vocab_size);
  const auto one_shot = logits_alone(*m, tokens, tokens.size());
  EXPECT_TRUE(test::same_bits(logits_alone(*m, tokens, 13), one_shot)) << "chunked prefill";
  EXPECT_TRUE(test::same_bits(logits_through_kvcache(*m, tokens, 17, rng), one_shot)) << "released pages";
  EXPECT_TRUE(test::same_bits(logits_through_kvcache(*m, tokens, 1, rng), one_shot)) << "token by token";

  // Ragged: three sequences in one step against each alone.
  const size_t vocab = static_cast<size_t>(m->config().vocab_size);
  const std::vector<size_t> lengths = {3, 45, 97};
  std::vector<std::vector<int32_t>> prompts, tables;
  model::ForwardBatch batch;
  for (size_t i = 0; i < lengths.size(); ++i) {
    prompts.push_back(test::random_tokens(rng, lengths[i], m->config().vocab_size));
    tables.emplace_back(7);
    for (size_t b = 0; b < 7; ++b) tables.back()[b] = static_cast<int32_t>(b * 3 + i);  // interleaved blocks
  }
  for (size_t i = 0; i < lengths.size(); ++i) batch.push_back({prompts[i], 0, {tables[i]}, model::LogitsWanted::kLast});
  model::CpuModelRunner runner(*m, std::vector<int32_t>{21}, kBlockSize);
  const auto together = runner.forward(batch);
  for (size_t i = 0; i < lengths.size(); ++i) {
    const auto alone = logits_alone(*m, prompts[i], lengths[i]);
    EXPECT_TRUE(test::same_bits(std::span(together).subspan(i * vocab, vocab), std::span(alone).last(vocab))) << i;
  }
}

// A long prompt admitted whole and prefilled in chunks takes the window group's blocks step by
// step (its own released blocks are the next step's, the filler takes the rest): the logits are
// those of the sequence alone with every page kept.
TEST_F(WindowedModel, SinkWindowPrefillTakingBlocksStepByStepEqualsPagesKept) {
  auto m = load(test::default_model_path(), kSinkWindow);
  std::mt19937 rng(17);
  const auto tokens = test::random_tokens(rng, 1000, m->config().vocab_size);
  const auto kept = logits_alone(*m, tokens, 64, model::LogitsWanted::kLast);
  EXPECT_TRUE(test::same_bits(
      logits_through_kvcache(*m, tokens, 64, rng, model::LogitsWanted::kLast, Admission::kWholeChunk), kept));
}

TEST_F(WindowedModel, SinkWindowWiderThanTheSequenceIsFull) {
  auto windowed = load(test::default_model_path(), kSinkWindow);
  auto full = load(test::default_model_path(), R"({"layers": {"*": {"backend": "full"}}})");
  std::mt19937 rng(3);
  const auto tokens = test::random_tokens(rng, 40, windowed->config().vocab_size);
  EXPECT_TRUE(test::same_bits(logits_alone(*windowed, tokens, 40), logits_alone(*full, tokens, 40)));
  // Past the window they differ: the mask is applied.
  const auto longer = test::random_tokens(rng, 60, windowed->config().vocab_size);
  EXPECT_FALSE(test::same_bits(logits_alone(*windowed, longer, 60), logits_alone(*full, longer, 60)));
}

// Gemma 3's sliding layers in window_kv groups (pages released, reused by another sequence) give
// bit for bit the logits of today's layout, which keeps every page and masks.
TEST_F(WindowedModel, Gemma3WindowGroupsEqualTheMaskedFullCache) {
  auto native = load(test::source_path("models/gemma-3-270m-q4_k_m.gguf"), kGemmaNative);
  auto masked = load(test::source_path("models/gemma-3-270m-q4_k_m.gguf"), "{\"layers\": {\"*\": {\"backend\": \"full\"}}}");
  ASSERT_EQ(native->attention_plan().groups.size(), 2u);
  ASSERT_EQ(masked->attention_plan().groups.size(), 1u);
  std::mt19937 rng(11);
  const auto tokens = test::random_tokens(rng, 600, native->config().vocab_size);  // past the 512-token window
  // The last logits of each 100-token chunk (Gemma's vocabulary makes every row costly).
  const auto reference = logits_alone(*masked, tokens, 100, model::LogitsWanted::kLast);
  EXPECT_TRUE(test::same_bits(logits_through_kvcache(*native, tokens, 100, rng, model::LogitsWanted::kLast), reference));
}

// Through the scheduler.
using test::ServedRun;

TEST(SinkWindowScheduler, ShortPromptsGetFullsTokensAndMemoryStopsGrowing) {
  auto full = runtime::LoadedModel::load(test::default_model_path(), 2);
  auto windowed = runtime::LoadedModel::load(
      test::default_model_path(), 2,
      test::layout(R"({"layers": {"*": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 64}}})"));
  const auto prompts = test::short_prompts(full.model->config().vocab_size);
  scheduler::SchedulerConfig config = test::small_cache_config(kBlockSize);  // chunked prefill
  // prompt + 24 tokens stays inside the 64-token window: the same greedy tokens as full.
  const ServedRun reference = test::serve_greedy(full, prompts, 24, config);
  const ServedRun run = test::serve_greedy(windowed, prompts, 24, config);
  EXPECT_EQ(run.tokens, reference.tokens);
  EXPECT_TRUE(reference.stats.prefix_cache_enabled);
  EXPECT_FALSE(run.stats.prefix_cache_enabled);  // window_kv: turned off with a warning

  // One long generation: blocks in use stop growing at sinks + window + one block (1 + 4 + 1),
  // while a full cache grows with the sequence.
  const ServedRun long_run = test::serve_greedy(windowed, {prompts[0]}, 300, config);
  EXPECT_EQ(long_run.tokens[0].size(), 300u);
  EXPECT_EQ(*std::max_element(long_run.blocks_used.begin(), long_run.blocks_used.end()), 6);
  const ServedRun long_full = test::serve_greedy(full, {prompts[0]}, 300, config);
  EXPECT_EQ(long_full.stats.kv_blocks_peak, 19);  // 304 tokens: the last pick is never fed back
  // Longer than the whole cache (24 blocks = 384 tokens) is fine with a window.
  const ServedRun longest = test::serve_greedy(windowed, {prompts[0]}, 450, config);
  EXPECT_EQ(longest.tokens[0].size(), 450u);
  EXPECT_LE(longest.stats.kv_blocks_peak, 6);
}

// A 1,000-token prompt in a 12-block (192-token) cache: prefilled in 64-token chunks, the window
// group holds at most 4 sinks + 64 window + 64 chunk tokens' blocks, and the greedy tokens are
// those of the same prompt prefilled in one shot with every block taken at admission.
TEST(SinkWindowScheduler, LongPromptPeakIsBoundedByTheWindowAndTheChunk) {
  auto windowed = runtime::LoadedModel::load(
      test::default_model_path(), 2,
      test::layout(R"({"layers": {"*": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 64}}})"));
  std::mt19937 rng(19);
  const std::vector<std::vector<int32_t>> prompt = {test::random_tokens(rng, 1000, windowed.model->config().vocab_size)};
  constexpr int32_t kGenerated = 8;

  scheduler::SchedulerConfig one_shot;
  one_shot.block_size = kBlockSize;
  one_shot.max_num_batched_tokens = 2048;
  one_shot.num_kv_blocks = 64;  // the 1,007 tokens written
  const ServedRun reference = test::serve_greedy(windowed, prompt, kGenerated, one_shot);

  scheduler::SchedulerConfig chunked = one_shot;
  chunked.max_num_batched_tokens = 64;
  chunked.num_kv_blocks = 12;
  const ServedRun run = test::serve_greedy(windowed, prompt, kGenerated, chunked);
  ASSERT_EQ(run.tokens[0].size(), static_cast<size_t>(kGenerated));
  EXPECT_EQ(run.tokens, reference.tokens);

  const kvcache::CacheGroupSpec spec = windowed.model->attention_plan().cache_group_specs(kBlockSize)[0];
  const int64_t bound = kvcache::window_step_units(spec, 1007, 64);
  EXPECT_EQ(bound, 1 + 8 + 1);
  EXPECT_LE(run.stats.kv_blocks_peak, bound);
  EXPECT_LE(run.stats.kv_bytes_peak, bound * spec.bytes_per_block());
  EXPECT_EQ(reference.stats.kv_blocks_peak, 63);  // one shot: the whole prompt at once
  EXPECT_EQ(run.stats.preemptions, 0);
  EXPECT_EQ(run.used_at_end, std::vector<int32_t>{0});
}

}  // namespace
}  // namespace strata
