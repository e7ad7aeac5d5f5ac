// A hybrid model: a tiny random Qwen3-Next (three gated delta-rule layers, then one full
// attention layer with output gate, QK-norm and partial RoPE), against transformers' logits
// (tests/golden/hybrid/, made by gen_hybrid_model.py). The forward in one shot, in prefill chunks
// and token by token; ragged batches against each sequence alone; the scheduler's greedy tokens
// for concurrent requests (chunked, preempted) against each request alone, state slots freed;
// the layouts the model accepts and refuses.
//
// Tolerances are relative L2 norms of a logits row, ||ours - transformers'|| / ||transformers'||.
// Our KV cache is fp16 and the attention rounds queries and weights to fp16 (llama.cpp's
// numerics), the rest is fp32 like transformers' run; the figures are printed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/attention/attention_layout.h"
#include "engine/attention/layout_error.h"
#include "engine/model/cpu_model_runner.h"
#include "engine/model/decoder_model.h"
#include "engine/runtime/loaded_model.h"
#include "engine/runtime/solo_sequence.h"
#include "scheduler/scheduler.h"
#include "tests/unit/sequence_runs.h"
#include "tests/unit/served_run.h"
#include "tests/unit/test_paths.h"

namespace strata {
namespace {

const std::string kModel = "tests/golden/hybrid/qwen3next-tiny.gguf";
// fp16 KV and fp16-rounded attention operands against transformers' fp32: 9e-5 seen.
constexpr double kLogitTolerance = 5e-4;

struct FixtureSequence {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;             // rows of `logits`
  std::vector<std::vector<float>> logits;     // transformers', one row per position
};

std::vector<FixtureSequence> load_fixture() {
  std::ifstream in(test::source_path("tests/golden/hybrid/qwen3next_tiny_logits.json"));
  const auto json = nlohmann::json::parse(in);
  std::vector<FixtureSequence> out;
  for (const auto& s : json.at("sequences")) {
    out.push_back({s.at("tokens").get<std::vector<int32_t>>(), s.at("positions").get<std::vector<int32_t>>(),
                   s.at("logits").get<std::vector<std::vector<float>>>()});
  }
  return out;
}

double relative_error(std::span<const float> ours, std::span<const float> reference) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < reference.size(); ++i) {
    diff += (static_cast<double>(ours[i]) - reference[i]) * (static_cast<double>(ours[i]) - reference[i]);
    norm += static_cast<double>(reference[i]) * reference[i];
  }
  return std::sqrt(diff / norm);
}

struct Loaded {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<model::DecoderModel> model;
};

Loaded load(const attention::AttentionLayout& layout = {}) {
  Loaded m;
  m.file = gguf::GgufFile::open(test::source_path(kModel));
  m.model = std::make_unique<model::DecoderModel>(*m.file, 2, layout);
  return m;
}

// Layouts from JSON text; every position's logits of a sequence fed alone in chunks.
using test::layout;
using test::logits_alone;

TEST(HybridModel, ConfigAndPlanComeFromTheFile) {
  const Loaded m = load();
  const auto& c = m.model->config();
  EXPECT_EQ(c.architecture, "qwen3next");
  EXPECT_EQ(c.n_layers, 4);
  EXPECT_EQ(c.rope_dim, 8);  // partial RoPE: a quarter of the 32-dim heads
  EXPECT_TRUE(c.features.attention_output_gate);
  EXPECT_TRUE(c.features.qk_norm);
  EXPECT_EQ(c.gated_delta_net.n_k_heads, 2);
  EXPECT_EQ(c.gated_delta_net.n_v_heads, 4);
  EXPECT_EQ(c.gated_delta_net.d_k, 16);
  EXPECT_EQ(c.gated_delta_net.d_v, 16);
  // Layers 1 and 3 have experts (their file has routers), 0 and 2 the dense FFN.
  EXPECT_EQ(c.moe.n_experts, 4);
  EXPECT_EQ(c.moe.n_used, 2);
  EXPECT_EQ(c.moe.n_ff_expert, 32);
  EXPECT_EQ(c.moe.n_ff_shared, 48);
  EXPECT_TRUE(c.moe.renormalize);
  const auto& plan = m.model->attention_plan();
  for (int li = 0; li < 3; ++li) {
    EXPECT_EQ(plan.layers[static_cast<size_t>(li)].trained_as, attention::TrainedAs::kLinear);
    EXPECT_EQ(plan.layers[static_cast<size_t>(li)].plan.backend, "linear");
  }
  EXPECT_EQ(plan.layers[3].trained_as, attention::TrainedAs::kFull);
  EXPECT_EQ(plan.layers[3].plan.backend, "full");
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(plan.groups[0].kind, kvcache::CacheKind::kPagedKv);
  EXPECT_EQ(plan.groups[0].layers, std::vector<int32_t>{3});
  EXPECT_EQ(plan.groups[0].bytes_per_token, 2 * 2 * 32 * 2);  // fp16 K + V, 2 KV heads of 32
  EXPECT_EQ(plan.groups[1].kind, kvcache::CacheKind::kRecurrentState);
  EXPECT_EQ(plan.groups[1].layers, (std::vector<int32_t>{0, 1, 2}));
  // Per layer: 4 value heads x 16 x 16 state + 3 conv inputs of 2 x 32 + 64 channels, fp32.
  EXPECT_EQ(plan.groups[1].bytes_per_sequence, 3 * 4 * (4 * 16 * 16 + 3 * 128));
  EXPECT_FALSE(plan.all_paged());
}

// One shot, chunked prefill (chunks of 50 against the cell's 64) and token by token all match
// transformers' one-shot logits.
TEST(HybridModel, LogitsMatchTransformers) {
  Loaded m = load();
  const auto fixture = load_fixture();
  const int32_t vocab = m.model->config().vocab_size;
  for (const size_t chunk : {size_t{0}, size_t{50}, size_t{1}}) {
    double worst = 0.0, sum = 0.0;
    int rows = 0;
    for (const auto& seq : fixture) {
      const auto logits = logits_alone(*m.model, seq.tokens, chunk == 0 ? seq.tokens.size() : chunk);
      for (size_t r = 0; r < seq.positions.size(); ++r) {
        const auto ours = std::span<const float>(logits).subspan(static_cast<size_t>(seq.positions[r]) * vocab, vocab);
        const double error = relative_error(ours, seq.logits[r]);
        worst = std::max(worst, error);
        sum += error;
        ++rows;
      }
    }
    std::printf("[hybrid] %s: %d logits rows vs transformers, relative L2 error max %.2e, mean %.2e (tolerance %.0e)\n",
                chunk == 0 ? "one shot" : chunk == 1 ? "token by token" : "chunks of 50", rows, worst, sum / rows,
                kLogitTolerance);
    EXPECT_LT(worst, kLogitTolerance);
  }
}

// Ragged steps mixing fresh prefills, continued chunks and decodes give each sequence exactly
// the logits it gets alone fed the same pieces, whichever slots and blocks it holds.
TEST(HybridModel, RaggedBatchesEqualEachSequenceAlone) {
  Loaded m = load();
  const auto fixture = load_fixture();
  const int32_t vocab = m.model->config().vocab_size;
  constexpr int32_t kBlock = 16;
  // Three sequences, each with its own pieces (token counts per step).
  const std::vector<std::vector<size_t>> pieces = {{6}, {10, 1, 13}, {70, 64, 1, 1, 64}};
  const std::vector<int32_t> slots = {2, 0, 3};  // of 4, slot 1 unused
  auto runner = model::cpu_runner_factory(*m.model)(std::vector<int32_t>{64, 4}, kBlock);
  std::vector<std::vector<int32_t>> tables(3);
  int32_t next_block = 63;  // tables run downwards, so no sequence's blocks are in order
  for (size_t s = 0; s < 3; ++s) {
    for (size_t b = 0; b < (fixture[s].tokens.size() + kBlock - 1) / kBlock; ++b) tables[s].push_back(next_block--);
  }
  std::vector<std::vector<float>> batched(3);
  std::vector<size_t> done(3, 0), step_of(3, 0);
  while (true) {
    model::ForwardBatch batch;
    std::vector<size_t> members;
    for (size_t s = 0; s < 3; ++s) {
      if (step_of[s] == pieces[s].size()) continue;
      const size_t n = pieces[s][step_of[s]];
      batch.push_back({std::span<const int32_t>(fixture[s].tokens).subspan(done[s], n), static_cast<int32_t>(done[s]),
                       {tables[s], {}}, model::LogitsWanted::kAll, slots[s]});
      members.push_back(s);
    }
    if (batch.empty()) break;
    const auto logits = runner->forward(batch);
    size_t row = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      const size_t s = members[i], n = batch[i].tokens.size();
      batched[s].insert(batched[s].end(), logits.begin() + static_cast<int64_t>(row * vocab),
                        logits.begin() + static_cast<int64_t>((row + n) * vocab));
      row += n;
      done[s] += n;
      ++step_of[s];
    }
  }
  for (size_t s = 0; s < 3; ++s) {
    ASSERT_EQ(done[s], fixture[s].tokens.size());
    runtime::SoloSequence alone(model::cpu_runner_factory(*m.model), static_cast<int32_t>(done[s]),
                                m.model->attention_plan().group_kinds());
    std::vector<float> reference;
    size_t at = 0;
    for (const size_t n : pieces[s]) {
      const auto piece = alone.feed(std::span<const int32_t>(fixture[s].tokens).subspan(at, n), model::LogitsWanted::kAll);
      reference.insert(reference.end(), piece.begin(), piece.end());
      at += n;
    }
    ASSERT_EQ(batched[s].size(), reference.size());
    EXPECT_EQ(std::memcmp(batched[s].data(), reference.data(), reference.size() * sizeof(float)), 0)
        << "sequence " << s << " differs from alone";
  }
}

TEST(HybridModel, ForwardRefusesMissingOrSharedSlots) {
  Loaded m = load();
  auto runner = model::cpu_runner_factory(*m.model)(std::vector<int32_t>{8, 2}, 16);
  const std::vector<int32_t> tokens = {1, 2, 3}, table = {0}, other = {1};
  EXPECT_THROW(runner->forward({{tokens, 0, {table, {}}, model::LogitsWanted::kLast, -1}}), std::invalid_argument);
  EXPECT_THROW(runner->forward({{tokens, 0, {table, {}}, model::LogitsWanted::kLast, 2}}), std::invalid_argument);
  EXPECT_THROW(runner->forward({{tokens, 0, {table, {}}, model::LogitsWanted::kLast, 1},
                                {tokens, 0, {other, {}}, model::LogitsWanted::kLast, 1}}),
               std::invalid_argument);
}

void expect_refused(const std::string& json, const std::vector<std::string>& fragments) {
  try {
    load(layout(json));
    ADD_FAILURE() << "accepted: " << json;
  } catch (const attention::LayoutError& e) {
    for (const auto& fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
}

// `linear` only on the layers trained for it, and nothing else there; sink_window on the full
// layer combines with the linear layers.
TEST(HybridModel, LayoutsKeepLinearLayersLinear) {
  expect_refused(R"({"layers": {"3": {"backend": "linear"}}})",
                 {"layer 3 is trained as full attention; backend 'linear' runs only on layers trained for it"});
  expect_refused(R"({"layers": {"0-1": {"backend": "full"}}})",
                 {"layers '0-1': layer 0 is trained as linear attention; backend 'full' needs softmax attention weights"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_tokens": 8}}})",
                 {"layers '*': layer 0 is trained as linear attention"});
  expect_refused(R"({"layers": {"0": {"backend": "linear", "chunk": 64}}})", {"unknown parameter 'chunk'"});
  const Loaded explicit_linear = load(layout(R"({"layers": {"0-2": {"backend": "linear"}}})"));
  EXPECT_EQ(explicit_linear.model->attention_plan().layers[1].rule, "0-2");
  Loaded windowed = load(layout(R"({"layers": {"3": {"backend": "sink_window", "sink_tokens": 2, "window_tokens": 32}}})"));
  const auto& plan = windowed.model->attention_plan();
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(plan.groups[0].kind, kvcache::CacheKind::kWindowKv);
  EXPECT_EQ(plan.groups[1].kind, kvcache::CacheKind::kRecurrentState);
  // Inside the window, the same logits as the model's own attention.
  Loaded own = load();
  const auto tokens = load_fixture()[1].tokens;
  EXPECT_EQ(logits_alone(*windowed.model, tokens, 7), logits_alone(*own.model, tokens, 7));
}

// Through the scheduler: greedy tokens of concurrent requests (chunked prefill, and preemption
// in a cache too small for all of them) equal each request's alone; every slot and block is free
// at the end.
TEST(HybridScheduler, ConcurrentGreedyTokensEqualEachAlone) {
  auto m = runtime::LoadedModel::load(test::source_path(kModel), 2);
  const auto fixture = load_fixture();
  const std::vector<std::vector<int32_t>> prompts = {
      fixture[0].tokens, fixture[1].tokens, std::vector<int32_t>(fixture[2].tokens.begin(), fixture[2].tokens.begin() + 40)};
  scheduler::SchedulerConfig config;
  config.num_kv_blocks = 64;
  config.max_num_batched_tokens = 32;  // chunked prefill
  constexpr int32_t kMaxTokens = 20;
  std::vector<std::vector<int32_t>> alone;
  for (const auto& prompt : prompts) alone.push_back(test::serve_greedy(m, {prompt}, kMaxTokens, config).tokens[0]);
  const test::ServedRun together = test::serve_greedy(m, prompts, kMaxTokens, config);
  EXPECT_EQ(together.tokens, alone);
  EXPECT_EQ(together.used_at_end, (std::vector<int32_t>{0, 0}));  // blocks, then state slots
  EXPECT_FALSE(together.stats.prefix_cache_enabled);  // recurrent_state: turned off with a warning
  EXPECT_EQ(together.stats.preemptions, 0);

  // 7 blocks of the full layer's paged group: the three prompts (1 + 2 + 3 blocks) are admitted
  // together, but 26 + 44 + 60 tokens need 9: the newest is preempted, its state slot freed, and
  // it is recomputed from its tokens later.
  config.num_kv_blocks = 7;
  const test::ServedRun preempted = test::serve_greedy(m, prompts, kMaxTokens, config);
  EXPECT_GT(preempted.stats.preemptions, 0);
  EXPECT_EQ(preempted.tokens, alone);
  EXPECT_EQ(preempted.used_at_end, (std::vector<int32_t>{0, 0}));
  std::printf("[hybrid] scheduler: 3 requests x %d greedy tokens equal alone, batched and with %lld preemptions\n",
              kMaxTokens, static_cast<long long>(preempted.stats.preemptions));
}

TEST(HybridScheduler, ForkedSequencesCopyTheirStateSlot) {
  auto m = runtime::LoadedModel::load(test::source_path(kModel), 2);
  const auto prompt = load_fixture()[1].tokens;
  scheduler::SchedulerConfig config;
  config.num_kv_blocks = 32;
  scheduler::Scheduler s(m, config);
  std::vector<std::vector<int32_t>> tokens(2);
  scheduler::GenerationParams params;
  params.sampling.temperature = 0.0f;
  params.max_tokens = 12;
  params.ignore_eos = true;
  params.n = 2;  // greedy siblings: the same tokens, each from its own copy of the prompt's state
  s.submit({prompt, params}, [&tokens](const scheduler::SequenceEvent& e) {
    tokens[static_cast<size_t>(e.index)].insert(tokens[static_cast<size_t>(e.index)].end(), e.tokens.begin(),
                                                e.tokens.end());
  });
  s.step();  // the prompt, then the fork: the sibling gets a slot of its own, a copy of the first's
  EXPECT_EQ(s.kv_cache().usage(1).used, 2);
  // The stats count the slots apart from the blocks.
  const scheduler::SchedulerStats stats = s.stats();
  EXPECT_EQ(stats.state_slots_used, 2);
  EXPECT_EQ(stats.state_slots_total, s.kv_cache().usage(1).capacity);
  EXPECT_EQ(stats.kv_blocks_total, s.kv_cache().usage(0).capacity);
  EXPECT_EQ(stats.kv_blocks_used, s.kv_cache().usage(0).used);
  while (s.has_work()) s.step();
  EXPECT_EQ(tokens[0].size(), 12u);
  EXPECT_EQ(tokens[0], tokens[1]);
  const test::ServedRun single = test::serve_greedy(m, {prompt}, 12, config);
  EXPECT_EQ(tokens[0], single.tokens[0]);
}

}  // namespace
}  // namespace strata
