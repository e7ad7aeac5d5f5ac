// The `evict` backend (SnapKV, H2O): its layouts and refusals; the choice of kept keys against a
// brute-force check; attention after a compaction against a softmax over exactly the kept keys
// (dropped keys poisoned); on SmolLM2 a budget past the sequence equals `full` bit for bit and a
// chunked prefill equals one shot; through the scheduler, greedy tokens of short prompts equal
// `full`'s, blocks per sequence stay within the budget + one block while decoding far past it and
// go back to the pool; a teacher-forced figure at a budget of 25% of 2048 tokens for both policies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/attention/attention_plan.h"
#include "engine/attention/eviction.h"
#include "engine/attention/evict_backend.h"
#include "engine/attention/layout_error.h"
#include "engine/attention/plan_description.h"
#include "engine/common/half.h"
#include "engine/cpu/ops.h"
#include "engine/model/cpu_model_runner.h"
#include "engine/model/evicting_layers.h"
#include "engine/runtime/loaded_model.h"
#include "engine/runtime/solo_sequence.h"
#include "eval/harness.h"
#include "eval/logit_metrics.h"
#include "scheduler/scheduler.h"
#include "tests/unit/served_run.h"
#include "tests/unit/test_paths.h"

namespace strata {
namespace {

using attention::EvictionPlan;
using attention::EvictPolicy;
using test::logits_alone;

constexpr int32_t kBlockSize = 16;

std::string evict_layout(const std::string& policy, int budget, const std::string& extra = "") {
  return R"({"layers": {"*": {"backend": "evict", "policy": ")" + policy + R"(", "budget_tokens": )" +
         std::to_string(budget) + extra + "}}}";
}

model::ModelConfig shape(int32_t n_layers, int32_t context_length, int32_t sliding_window = 0) {
  model::ModelConfig c;
  c.n_layers = n_layers;
  c.n_heads = 9;
  c.n_kv_heads = 3;
  c.head_dim = 64;
  c.context_length = context_length;
  c.layers.resize(static_cast<size_t>(n_layers));
  for (auto& l : c.layers) l.sliding_window = sliding_window;
  return c;
}

std::string refusal(const std::string& json, const model::ModelConfig& config) {
  try {
    attention::resolve_attention(test::layout(json), config);
  } catch (const attention::LayoutError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(EvictLayout, ResolvesToAnEvictingGroupPerBudget) {
  const auto config = shape(4, 8192);
  const auto plan = attention::resolve_attention(
      test::layout(R"({"layers": {"0": {"backend": "full"},
                            "1-2": {"backend": "evict", "policy": "snapkv", "budget_fraction": 0.25},
                            "3": {"backend": "evict", "policy": "h2o", "budget_tokens": 100}}})"),
      config);
  ASSERT_EQ(plan.groups.size(), 3u);
  EXPECT_EQ(plan.groups[1].kind, kvcache::CacheKind::kEvictingKv);
  EXPECT_EQ(plan.groups[1].token_budget, 100);
  EXPECT_EQ(plan.groups[2].token_budget, 2048);
  EXPECT_EQ(plan.groups[2].layers, (std::vector<int32_t>{1, 2}));
  // fp16 K + V and a position and a score per KV head.
  EXPECT_EQ(attention::evict_bytes_per_token(config), 2 * 3 * 64 * 2 + 3 * 8);
  EXPECT_EQ(plan.groups[2].bytes_per_token, 2 * attention::evict_bytes_per_token(config));
  const auto specs = plan.cache_group_specs(kBlockSize);
  EXPECT_EQ(specs[1].token_budget, 112);  // rounded up to whole blocks
  const auto& snapkv = *plan.layers[1].plan.eviction;
  EXPECT_EQ(snapkv, (EvictionPlan{EvictPolicy::kSnapKv, 2048, 0, 32, 7}));
  EXPECT_EQ(*plan.layers[3].plan.eviction, (EvictionPlan{EvictPolicy::kH2O, 100, 4, 50, 1}));
  const auto described = attention::describe_plan(plan);
  EXPECT_EQ(described["layers"][1]["eviction"]["policy"], "snapkv");
  EXPECT_EQ(described["cache_groups"][2]["token_budget"], 2048);
  EXPECT_NE(attention::describe_plan_lines(plan)[1].find("snapkv budget 2048, observation 32, pool 7"),
            std::string::npos);
  EXPECT_FALSE(plan.all_paged());

  // The shipped examples.
  for (const char* file : {"snapkv_25pct.json", "h2o_25pct.json"}) {
    const auto shipped = attention::resolve_attention(
        attention::AttentionLayout::load(test::source_path("configs/attention/") + file), shape(30, 8192));
    ASSERT_EQ(shipped.groups.size(), 1u) << file;
    EXPECT_EQ(shipped.groups[0].token_budget, 2048) << file;
  }
}

TEST(EvictLayout, RefusesBadParametersNamingTheRuleAndLayer) {
  const auto config = shape(4, 1024);
  const auto refused = [&](const std::string& json, const std::string& expected) {
    const std::string message = refusal(json, config);
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_NE(message.find("layout 'test', layers '*'"), std::string::npos) << message;
  };
  refused(R"({"layers": {"*": {"backend": "evict", "budget_tokens": 64}}})", "needs \"policy\"");
  refused(R"({"layers": {"*": {"backend": "evict", "policy": "lru", "budget_tokens": 64}}})", "not 'lru'");
  refused(R"({"layers": {"*": {"backend": "evict", "policy": "h2o"}}})", "exactly one of budget_tokens");
  refused(evict_layout("h2o", 64, R"(, "budget_fraction": 0.5)"), "exactly one of budget_tokens");
  refused(evict_layout("h2o", 2000), "'budget_tokens' must be an integer in [1, 1024]");
  refused(evict_layout("snapkv", 64, R"(, "pool_kernel": 4)"), "'pool_kernel' must be odd");
  refused(evict_layout("snapkv", 64, R"(, "recent_tokens": 8)"), "'recent_tokens' belongs to evict policy 'h2o'");
  refused(evict_layout("h2o", 64, R"(, "observation_window": 8)"), "belongs to evict policy 'snapkv'");
  refused(evict_layout("snapkv", 64, R"(, "observation_window": 64)"), "leave no room for scored keys");
  refused(evict_layout("h2o", 64, R"(, "sink_tokens": 4, "recent_tokens": 60)"), "leave no room");
  refused(evict_layout("h2o", 64, R"(, "window_tokens": 8)"), "unknown parameter 'window_tokens'");
  const std::string sliding = refusal(evict_layout("h2o", 64), shape(4, 1024, 512));
  EXPECT_NE(sliding.find("layer 0 was trained with a sliding window of 512 tokens"), std::string::npos) << sliding;
  // A valid layout resolves.
  EXPECT_EQ(refusal(evict_layout("h2o", 64), config), "(accepted)");
}

// The choice of kept keys: exactly `keep`, every protected key, and no dropped key outranks a
// kept unprotected one (higher score, or equal score and newer).
TEST(EvictChoice, KeepsProtectedThenHighestScoresOnRandomData) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const EvictionPlan plan{trial % 2 ? EvictPolicy::kH2O : EvictPolicy::kSnapKv, 0,
                            static_cast<int32_t>(rng() % 5), static_cast<int32_t>(rng() % 9), 1};
    const int n = 20 + static_cast<int>(rng() % 60);
    std::vector<int32_t> positions;
    for (int32_t p = 0, i = 0; i < n; ++p) {
      if (p < 4 || rng() % 3 != 0) {  // some keys already evicted
        positions.push_back(p);
        ++i;
      }
    }
    const int64_t end = positions.back() + 1 + static_cast<int64_t>(rng() % 6);
    std::vector<float> scores(static_cast<size_t>(n));
    for (auto& s : scores) s = static_cast<float>(rng() % 8);  // ties on purpose
    const int64_t keep = plan.sink_tokens + plan.recent_tokens + 1 + static_cast<int64_t>(rng() % 10);
    const int64_t prompt_end = static_cast<int64_t>(rng() % static_cast<uint32_t>(end + 1));
    const auto kept = attention::select_kept(plan, positions, scores, keep, end, prompt_end);
    ASSERT_EQ(static_cast<int64_t>(kept.size()), std::min<int64_t>(keep, n));
    ASSERT_TRUE(std::ranges::is_sorted(kept));
    std::vector<bool> is_kept(static_cast<size_t>(n));
    for (const int32_t i : kept) is_kept[static_cast<size_t>(i)] = true;
    const auto is_protected = [&](int i) {
      return positions[i] < plan.sink_tokens || positions[i] >= end - plan.recent_tokens;
    };
    // SnapKV's generated keys outrank its scored prompt keys.
    const auto generated = [&](int i) { return plan.policy == EvictPolicy::kSnapKv && positions[i] >= prompt_end; };
    for (int i = 0; i < n; ++i) {
      if (is_protected(i)) {
        EXPECT_TRUE(is_kept[i]) << "protected key at " << positions[i] << " dropped";
      }
      if (is_kept[i] || is_protected(i)) continue;
      for (int j = 0; j < n; ++j) {
        if (!is_kept[j] || is_protected(j)) continue;
        const bool outranks =
            generated(i) != generated(j)
                ? generated(i)
                : scores[i] > scores[j] || (scores[i] == scores[j] && positions[i] > positions[j]);
        EXPECT_FALSE(outranks) << "dropped " << positions[i] << " outranks kept " << positions[j];
      }
    }
  }
  EXPECT_EQ(attention::max_pooled(std::vector<float>{0, 5, 0, 0, 0, 1}, 3), (std::vector<float>{5, 5, 5, 0, 1, 1}));
}

// A compaction on random K/V: each head keeps select_kept's choice, packed in position order with
// its metadata; attention then reads exactly the kept keys and those written after (a softmax in
// double over them), the emptied blocks poisoned with NaN.
TEST(EvictAttention, AfterCompactionReadsExactlyTheKeptKeys) {
  model::ModelConfig config = shape(1, 4096);
  config.n_heads = 4;
  config.n_kv_heads = 2;
  config.head_dim = 16;
  const int64_t dim = int64_t{config.n_kv_heads} * config.head_dim;
  constexpr int32_t bs = 4;
  constexpr int64_t budget_blocks = 3;  // B = 12
  constexpr int32_t length = 30;        // 7 full blocks + 2 tokens
  model::PagedKvStore store(1, dim, 16, bs, {}, config.n_kv_heads);
  std::vector<int32_t> table(9);
  std::iota(table.begin(), table.end(), 3);  // not the identity
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> k_of(static_cast<size_t>(31 * dim)), v_of(k_of.size());  // by position
  for (auto& x : k_of) x = fp16_to_f32(f32_to_fp16(normal(rng)));
  for (auto& x : v_of) x = fp16_to_f32(f32_to_fp16(normal(rng)));
  const auto write = [&](int32_t pos) {
    for (int64_t j = 0; j < dim; ++j) {
      store.k_at(0, table.data(), pos)[j] = f32_to_fp16(k_of[static_cast<size_t>(pos * dim + j)]);
      store.v_at(0, table.data(), pos)[j] = f32_to_fp16(v_of[static_cast<size_t>(pos * dim + j)]);
    }
    model::write_slot_metadata(store, 0, table.data(), pos, config.n_kv_heads);
  };
  for (int32_t pos = 0; pos < length; ++pos) write(pos);
  std::vector<std::vector<float>> scores(2, std::vector<float>(length));
  for (int h = 0; h < 2; ++h) {
    for (int32_t pos = 0; pos < length; ++pos) {
      scores[h][pos] = static_cast<float>(rng() % 1000);
      store.scores_at(0, table.data(), pos)[h] = scores[h][pos];
    }
  }

  const EvictionPlan plan{EvictPolicy::kH2O, 12, 2, 3, 1};
  const std::vector<int32_t> tokens(2, 0);
  const model::ForwardBatch batch = {{tokens, length - 2, {table}, model::LogitsWanted::kLast, 0}};
  const std::vector<const EvictionPlan*> plans = {&plan};
  std::vector<model::CompactedBlocks> compacted;
  model::compact_evicting_group(batch, 0, budget_blocks, plans, store, config, compacted);
  ASSERT_EQ(compacted.size(), 1u);
  EXPECT_EQ(compacted[0].logical_blocks, (std::vector<int32_t>{3, 4, 5, 6}));  // [P, F)

  std::vector<std::vector<int32_t>> kept_positions(2);
  std::vector<int32_t> all_positions(28);
  std::iota(all_positions.begin(), all_positions.end(), 0);
  for (int h = 0; h < 2; ++h) {
    const auto choice =
        attention::select_kept(plan, all_positions, std::span(scores[h]).first(28), 12, length, length);
    for (int s = 0; s < 12; ++s) {
      EXPECT_EQ(store.positions_at(0, table.data(), s)[h], choice[static_cast<size_t>(s)]) << "head " << h;
      EXPECT_EQ(store.scores_at(0, table.data(), s)[h], scores[h][choice[static_cast<size_t>(s)]]);
    }
    kept_positions[h].assign(choice.begin(), choice.end());
  }
  // Release and poison: the emptied blocks' K and V become NaN.
  for (const int32_t b : compacted[0].logical_blocks) {
    for (int32_t slot = b * bs; slot < (b + 1) * bs; ++slot) {
      std::fill_n(store.k_at(0, table.data(), slot), dim, uint16_t{0x7e00});
      std::fill_n(store.v_at(0, table.data(), slot), dim, uint16_t{0x7e00});
    }
    table[static_cast<size_t>(b)] = -1;
  }
  write(length);  // the next token, at its own slot
  const attention::CompactedLayout layout = attention::compacted_layout(table, budget_blocks, bs);
  EXPECT_EQ(layout.packed_end, 12);
  EXPECT_EQ(layout.natural_begin, 28);

  std::vector<float> q(static_cast<size_t>(config.n_heads * config.head_dim));
  for (auto& x : q) x = normal(rng);
  std::vector<float> out(q.size()), weights(64);
  for (int head = 0; head < config.n_heads; ++head) {
    const int h = head / 2;
    cpu::attention_one_query(q.data(), store.k_view(0, table.data()), store.v_view(0, table.data()),
                             layout.keys(length).ranges(), head, config.n_heads, config.n_kv_heads, config.head_dim,
                             0.25f, weights.data(), out.data());
    std::vector<int32_t> read = kept_positions[h];
    for (int32_t pos = 28; pos <= length; ++pos) read.push_back(pos);
    std::vector<double> logit;
    double max_logit = -INFINITY;
    for (const int32_t pos : read) {
      double dot = 0;
      for (int d = 0; d < config.head_dim; ++d) {
        dot += double{fp16_to_f32(f32_to_fp16(q[static_cast<size_t>(head * config.head_dim + d)]))} *
               k_of[static_cast<size_t>(pos * dim + h * config.head_dim + d)];
      }
      logit.push_back(dot * 0.25);
      max_logit = std::max(max_logit, logit.back());
    }
    double sum = 0;
    for (double& l : logit) sum += (l = std::exp(l - max_logit));
    for (int d = 0; d < config.head_dim; ++d) {
      double expected = 0;
      for (size_t i = 0; i < read.size(); ++i) {
        expected += logit[i] / sum * v_of[static_cast<size_t>(read[i] * dim + h * config.head_dim + d)];
      }
      const float got = out[static_cast<size_t>(head * config.head_dim + d)];
      ASSERT_FALSE(std::isnan(got));
      EXPECT_NEAR(got, expected, 2e-3 * (1 + std::abs(expected))) << "head " << head << " dim " << d;
    }
  }
}

// SmolLM2 under evict layouts, alone (SoloSequence releases what compaction empties).
class EvictModel : public ::testing::Test {
 protected:
  static model::DecoderModel& load(const std::string& json) {
    if (!file) file = gguf::GgufFile::open(test::default_model_path());
    models.push_back(std::make_unique<model::DecoderModel>(*file, 2, test::layout(json)));
    return *models.back();
  }
  static void TearDownTestSuite() {
    models.clear();
    file.reset();
  }
  static inline std::unique_ptr<gguf::GgufFile> file;
  static inline std::vector<std::unique_ptr<model::DecoderModel>> models;
};

TEST_F(EvictModel, BudgetPastTheSequenceIsFullBitForBit) {
  model::DecoderModel& full = load(R"({"layers": {"*": {"backend": "full"}}})");
  std::mt19937 rng(7);
  const auto tokens = test::random_tokens(rng, 110, full.config().vocab_size);
  const auto reference = logits_alone(full, tokens, 32, model::LogitsWanted::kAll, 90);
  for (const char* policy : {"snapkv", "h2o"}) {
    model::DecoderModel& evicting = load(evict_layout(policy, 512));
    EXPECT_TRUE(test::same_bits(logits_alone(evicting, tokens, 32, model::LogitsWanted::kAll, 90), reference))
        << policy;
  }
}

TEST_F(EvictModel, ChunkedPrefillEqualsOneShotThroughCompactions) {
  std::mt19937 rng(8);
  for (const char* policy : {"snapkv", "h2o"}) {
    model::DecoderModel& evicting =
        load(evict_layout(policy, 48, std::string(policy) == "snapkv" ? R"(, "observation_window": 8)" : ""));
    const auto tokens = test::random_tokens(rng, 170, evicting.config().vocab_size);
    // A 130-token prompt (compacted at its end to 48 keys), then 40 decode steps (two more compactions).
    const auto one_shot = logits_alone(evicting, tokens, 130, model::LogitsWanted::kAll, 130);
    EXPECT_TRUE(test::same_bits(logits_alone(evicting, tokens, 24, model::LogitsWanted::kAll, 130), one_shot))
        << policy;
    model::DecoderModel& full = load(R"({"layers": {"*": {"backend": "full"}}})");
    EXPECT_FALSE(test::same_bits(logits_alone(full, tokens, 130, model::LogitsWanted::kAll, 130), one_shot))
        << policy << ": nothing was evicted";
  }
}

// Through the scheduler.
class EvictScheduler : public ::testing::TestWithParam<const char*> {};

TEST_P(EvictScheduler, ShortPromptsGetFullsTokensAndMemoryStaysFlat) {
  auto full = runtime::LoadedModel::load(test::default_model_path(), 2);
  auto evicting = runtime::LoadedModel::load(test::default_model_path(), 2, test::layout(evict_layout(GetParam(), 64)));
  const auto prompts = test::short_prompts(full.model->config().vocab_size);
  scheduler::SchedulerConfig config = test::small_cache_config(kBlockSize);  // chunked prefill
  // prompt + 24 tokens < 64 + one block: nothing is evicted, the same greedy tokens as full.
  const test::ServedRun run = test::serve_greedy(evicting, prompts, 24, config);
  EXPECT_EQ(run.tokens, test::serve_greedy(full, prompts, 24, config).tokens);
  EXPECT_FALSE(run.stats.prefix_cache_enabled);  // turned off with a warning
  // Far past the budget and past the whole cache (24 blocks = 384 tokens), two sequences at
  // once: each holds at most its 4 budget blocks + the one being filled, and every block is back
  // in the pool at the end. A full cache would need 27 + 25 blocks.
  const test::ServedRun long_run = test::serve_greedy(evicting, {prompts[0], prompts[2]}, 400, config);
  EXPECT_EQ(long_run.tokens[0].size(), 400u);
  EXPECT_EQ(long_run.tokens[1].size(), 400u);
  EXPECT_EQ(long_run.stats.kv_blocks_peak, 10);
  EXPECT_EQ(long_run.stats.preemptions, 0);
  EXPECT_EQ(long_run.blocks_used.back(), 0);
  // A cache too small for both: one is preempted, recomputed (compacting again past its prompt)
  // and finishes; kvcache's invariants hold after every step.
  config.num_kv_blocks = 8;
  const test::ServedRun squeezed = test::serve_greedy(evicting, {prompts[1], prompts[2]}, 120, config);
  EXPECT_EQ(squeezed.tokens[0].size(), 120u);
  EXPECT_EQ(squeezed.tokens[1].size(), 120u);
  EXPECT_GT(squeezed.stats.preemptions, 0);
  EXPECT_EQ(squeezed.blocks_used.back(), 0);
}

INSTANTIATE_TEST_SUITE_P(Policies, EvictScheduler, ::testing::Values("snapkv", "h2o"));

// Teacher-forced on the evaluation text: 2048 tokens, the first 1792 a prompt in chunks of 256,
// the last 256 one token per step (the harness decodes the last quarter; less here for time), each
// KV head keeping 512 keys (25%). `full`'s logits come from chunks alone: its chunked prefill
// equals decoding token by token.
class EvictTeacherForced : public EvictModel, public ::testing::WithParamInterface<const char*> {};

TEST_P(EvictTeacherForced, AgreesWithFullAtAQuarterOf2kTokens) {
  constexpr size_t kTokens = 2048, kPrompt = 1792;
  static std::vector<int32_t> tokens;
  static std::vector<float> reference;
  model::DecoderModel& full = load(R"({"layers": {"*": {"backend": "full"}}})");
  if (reference.empty()) {
    const auto tokenizer = tokenizer::Tokenizer::from_gguf(*file);
    std::ifstream in(eval::default_text_path());
    std::stringstream text;
    text << in.rdbuf();
    tokens = tokenizer->encode(text.str(), true, false);
    ASSERT_GE(tokens.size(), kTokens);
    tokens.resize(kTokens);
    reference = logits_alone(full, tokens, 256, model::LogitsWanted::kAll, kTokens);
  }
  const auto vocab = static_cast<size_t>(full.config().vocab_size);
  const auto candidate =
      logits_alone(load(evict_layout(GetParam(), 512)), tokens, 256, model::LogitsWanted::kAll, kPrompt);
  eval::LogitComparer decoded(full.config().vocab_size);
  for (size_t p = kPrompt; p + 1 < kTokens; ++p) {
    decoded.add(std::span(reference).subspan(p * vocab, vocab), std::span(candidate).subspan(p * vocab, vocab),
                tokens[p + 1]);
  }
  const auto r = decoded.result();
  std::printf("[ evict %s, budget 512 of 2048 tokens ] %lld decoded positions: top-1 agreement with full %.4f, "
              "mean KL %.4f, perplexity %.3f (full %.3f)\n",
              GetParam(), static_cast<long long>(r.positions), r.top1_agreement, r.mean_kl, r.candidate_perplexity,
              r.reference_perplexity);
  EXPECT_GT(r.top1_agreement, 0.8);
}

INSTANTIATE_TEST_SUITE_P(Policies, EvictTeacherForced, ::testing::Values("snapkv", "h2o"));

}  // namespace
}  // namespace strata
