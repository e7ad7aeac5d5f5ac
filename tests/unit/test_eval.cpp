// The quality harness (eval/): its metrics on synthetic logits, the passkey prompt, and full
// against itself on SmolLM2 (everything must agree exactly), and the report's JSON shape.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/runtime/generate.h"
#include "engine/runtime/loaded_model.h"
#include "eval/harness.h"
#include "eval/logit_metrics.h"
#include "eval/memory_speed_task.h"
#include "eval/passkey_prompt.h"
#include "eval/passkey_task.h"
#include "eval/proportion.h"
#include "eval/teacher_forced_task.h"
#include "test_paths.h"

namespace strata::eval {
namespace {

TEST(LogitMetrics, LogSoftmaxIsNormalisedAndShiftInvariant) {
  const std::vector<float> logits = {1.0f, 2.0f, -3.0f, 0.5f};
  const auto lp = log_softmax(logits);
  double total = 0.0;
  for (double x : lp) total += std::exp(x);
  EXPECT_NEAR(total, 1.0, 1e-15);
  const std::vector<float> shifted = {101.0f, 102.0f, 97.0f, 100.5f};
  const auto lp_shifted = log_softmax(shifted);
  for (size_t i = 0; i < lp.size(); ++i) EXPECT_NEAR(lp[i], lp_shifted[i], 1e-12);
}

TEST(LogitMetrics, KlOfIdenticalIsZeroAndOfKnownPairIsExact) {
  const std::vector<float> logits = {0.3f, -1.0f, 2.5f, 0.0f, 4.0f};
  const auto lp = log_softmax(logits);
  EXPECT_EQ(kl_divergence(lp, lp), 0.0);
  // p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
  const std::vector<double> p = {std::log(0.5), std::log(0.5)}, q = {std::log(0.25), std::log(0.75)};
  EXPECT_NEAR(kl_divergence(p, q), 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-15);
  EXPECT_GT(kl_divergence(q, p), 0.0);
}

TEST(LogitMetrics, ComparerOfIdenticalRowsAgreesFullyWithZeroKl) {
  constexpr int32_t kVocab = 7;
  std::vector<float> rows;
  std::vector<int32_t> next;
  for (int32_t pos = 0; pos < 5; ++pos) {
    for (int32_t v = 0; v < kVocab; ++v) rows.push_back(std::sin(static_cast<float>(pos * kVocab + v)));
    next.push_back((pos * 3) % kVocab);
  }
  LogitComparer c(kVocab);
  c.add_rows(rows, rows, next);
  const auto r = c.result();
  EXPECT_EQ(r.positions, 5);
  EXPECT_EQ(r.top1_agreement, 1.0);
  EXPECT_EQ(r.mean_kl, 0.0);
  EXPECT_EQ(r.reference_perplexity, r.candidate_perplexity);
}

TEST(LogitMetrics, PerplexityOfKnownDistributions) {
  // Uniform over the vocabulary: perplexity = the vocabulary size, whatever comes next.
  LogitComparer uniform(8);
  const std::vector<float> flat(8, 0.25f);
  for (int32_t t = 0; t < 8; ++t) uniform.add(flat, flat, t);
  EXPECT_NEAR(uniform.result().reference_perplexity, 8.0, 1e-12);
  // Logits ln(p) with p = (0.5, 0.25, 0.125, 0.125); next tokens 0 and 1:
  // perplexity = exp((ln 2 + ln 4) / 2) = sqrt(8).
  const std::vector<float> known = {std::log(0.5f), std::log(0.25f), std::log(0.125f), std::log(0.125f)};
  // The candidate prefers token 3: agreement 0, KL > 0.
  const std::vector<float> other = {0.0f, 0.0f, 0.0f, 1.0f};
  LogitComparer c(4);
  c.add(known, other, 0);
  c.add(known, other, 1);
  const auto r = c.result();
  EXPECT_NEAR(r.reference_perplexity, std::sqrt(8.0), 1e-6);
  EXPECT_EQ(r.top1_agreement, 0.0);
  EXPECT_GT(r.mean_kl, 0.0);
  EXPECT_EQ(argmax(known), 0);
}

TEST(Proportion, WilsonIntervalMatchesTheFormula) {
  const auto all = Proportion{20, 20}.wilson95();
  EXPECT_NEAR(all.low, 0.8389, 1e-4);
  EXPECT_EQ(all.high, 1.0);
  const auto half = Proportion{10, 20}.wilson95();
  EXPECT_NEAR(half.low, 0.2993, 1e-4);
  EXPECT_NEAR(half.high, 0.7007, 1e-4);
}

TEST(PasskeyKey, FiveDigitsFromTheSampleOnly) {
  EXPECT_EQ(passkey_key(3, 1024, 2, 7), passkey_key(3, 1024, 2, 7));
  EXPECT_NE(passkey_key(3, 1024, 2, 7), passkey_key(3, 1024, 2, 8));
  EXPECT_NE(passkey_key(3, 1024, 2, 7), passkey_key(4, 1024, 2, 7));
  for (int32_t s = 0; s < 200; ++s) {
    const int32_t key = passkey_key(0, 512, 0, s);
    EXPECT_GE(key, 10000);
    EXPECT_LE(key, 99999);
  }
}

class EvalOnSmolLm2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model = new runtime::LoadedModel(runtime::LoadedModel::load(test::default_model_path(), 2));
    std::ifstream in(default_text_path());
    std::stringstream text;
    text << in.rdbuf();
    text_ids = new std::vector<int32_t>(runtime::tokenize_prompt(*model, text.str(), false));
  }
  static void TearDownTestSuite() {
    delete text_ids;
    delete model;
  }
  static EvalTarget full() { return {"full", *model}; }

  static inline runtime::LoadedModel* model = nullptr;
  static inline std::vector<int32_t>* text_ids = nullptr;
};

TEST_F(EvalOnSmolLm2, PasskeyPromptPutsTheNeedleAtItsDepthWithinTheTokenBudget) {
  const PasskeyPromptBuilder builder(*model);
  EXPECT_TRUE(builder.uses_chat_template());
  for (int32_t budget : {200, 1000}) {
    for (double depth : {0.0, 0.25, 0.5, 0.75, 1.0}) {
      SCOPED_TRACE("budget " + std::to_string(budget) + ", depth " + std::to_string(depth));
      const auto p = builder.build(budget, depth, 31415);
      const auto n = static_cast<int32_t>(p.tokens.size());
      // Within one filler sentence (at most 6 tokens) of the budget.
      EXPECT_LE(n, budget);
      EXPECT_GE(n, budget - 6);
      EXPECT_EQ(p.key, "31415");
      const auto& tok = *model->tokenizer;
      // The needle is where it says, whole.
      const std::vector<int32_t> needle(p.tokens.begin() + p.needle_begin, p.tokens.begin() + std::min(n, p.needle_begin + 16));
      EXPECT_NE(tok.decode(needle).find("The pass key is 31415. Remember it."), std::string::npos) << tok.decode(needle);
      // At the depth: depth x the haystack's tokens besides the needle, within a sentence.
      const int32_t needle_tokens = static_cast<int32_t>(tok.encode(" The pass key is 31415. Remember it.", false, false).size());
      const double expected = p.haystack_begin + depth * (p.haystack_end - p.haystack_begin - needle_tokens);
      EXPECT_NEAR(p.needle_begin, expected, 7.0);
      // The question and the start of the answer close the prompt.
      const std::vector<int32_t> tail(p.tokens.begin() + p.haystack_end, p.tokens.end());
      const std::string tail_text = tok.decode(tail);
      EXPECT_NE(tail_text.find("What is the pass key?"), std::string::npos) << tail_text;
      EXPECT_EQ(tail_text.substr(tail_text.size() - 15), "The pass key is");
    }
  }
  EXPECT_THROW((void)builder.build(20, 0.5, 31415), std::invalid_argument);
}

TEST_F(EvalOnSmolLm2, FullAgainstItselfAgreesExactlyTeacherForced) {
  const std::vector<int32_t> contexts = {64, 100};
  const auto results = run_teacher_forced(full(), full(), model->model->config().vocab_size, *text_ids, contexts);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.decode_from, r.context - r.context / 4);
    EXPECT_EQ(r.all.positions, r.context - 1);
    EXPECT_EQ(r.decoded.positions, r.context - 1 - r.decode_from);
    for (const auto& c : {r.all, r.decoded}) {
      EXPECT_EQ(c.top1_agreement, 1.0);
      EXPECT_EQ(c.mean_kl, 0.0);
      EXPECT_EQ(c.reference_perplexity, c.candidate_perplexity);
      // A small model on English prose: well below the vocabulary, well above 1.
      EXPECT_GT(c.reference_perplexity, 2.0);
      EXPECT_LT(c.reference_perplexity, 200.0);
    }
  }
  EXPECT_THROW(run_teacher_forced(full(), full(), model->model->config().vocab_size, std::span(*text_ids).first(50),
                                  std::vector<int32_t>{64}),
               std::invalid_argument);
}

TEST_F(EvalOnSmolLm2, FullAgainstItselfRetrievesTheSamePasskeys) {
  const auto r = run_passkey(full(), full(), {{160}, {0.0, 1.0}, 2, 5});
  ASSERT_EQ(r.cells.size(), 2u);
  EXPECT_TRUE(r.chat_template);
  for (const auto& c : r.cells) {
    EXPECT_EQ(c.reference.trials, 2);
    EXPECT_EQ(c.candidate.successes, c.reference.successes);
    EXPECT_LE(c.prompt_tokens, 160 - kPasskeyAnswerTokens);
  }
}

TEST_F(EvalOnSmolLm2, MemoryIsTheSchedulersPeakBlocks) {
  const auto r = run_memory_speed(full(), full(), *text_ids, std::vector<int32_t>{100}, 2048);
  ASSERT_EQ(r.size(), 1u);
  const auto& c = model->model->config();
  const int64_t per_token = int64_t{2} * c.n_layers * c.n_kv_heads * c.head_dim * 2;  // fp16 K and V, every layer
  EXPECT_EQ(kv_bytes_per_token(*model), per_token);
  EXPECT_EQ(r[0].dense_kv_bytes, 99 * per_token);
  for (const auto& point : {r[0].reference, r[0].candidate}) {
    EXPECT_EQ(point.peak_kv_blocks, 7);  // 99 cached tokens in blocks of 16
    EXPECT_EQ(point.peak_kv_bytes, 7 * 16 * per_token);
    EXPECT_GT(point.decode_step_ms_median, 0.0);
    EXPECT_GT(point.prefill_seconds, 0.0);
  }
}

TEST_F(EvalOnSmolLm2, ReportHasEveryTasksShape) {
  EvalOptions options;
  options.contexts = {128};
  options.depths = {0.5};
  options.samples = 1;
  const auto j = run_eval("cpu", full(), full(), options);
  EXPECT_EQ(j["reference"], "full");
  EXPECT_EQ(j["candidate"], "full");
  const auto& cell = j["passkey"]["cells"].at(0);
  for (const char* key : {"context", "depth", "prompt_tokens", "needle_depth_tokens", "reference", "candidate", "judged", "ratio"}) {
    EXPECT_TRUE(cell.contains(key)) << key;
  }
  EXPECT_TRUE(cell["reference"].contains("wilson95"));
  EXPECT_TRUE(j["passkey"]["summary"].contains("judged_cells"));
  const auto& forced = j["teacher_forced"]["contexts"].at(0);
  EXPECT_EQ(forced["all"]["top1_agreement"], 1.0);
  EXPECT_EQ(forced["decoded"]["mean_kl"], 0.0);
  const auto& memory = j["memory_speed"]["contexts"].at(0);
  EXPECT_EQ(memory["reference"]["peak_kv_bytes"], memory["candidate"]["peak_kv_bytes"]);
  EXPECT_TRUE(memory["candidate"].contains("decode_step_ms_median"));

  options.contexts = {model->model->config().context_length + 1};
  EXPECT_FALSE(check_options(*model, options).empty());
  EXPECT_THROW(run_eval("cpu", full(), full(), options), std::invalid_argument);
}

// A candidate is the same file under a layout, run through its own plan's cache groups: here 4
// sinks + a 32-token window on layers 2-29, so its teacher-forced logits differ from full's past
// the window and its peak KV is the two full layers' blocks plus the window group's few.
TEST_F(EvalOnSmolLm2, ALayoutCandidateRunsOnItsOwnCacheGroups) {
  const auto layout_path = std::filesystem::path(::testing::TempDir()) / "eval_sink_window_32.json";
  std::ofstream(layout_path) << R"({"layers": {"2-29": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 32}}})";
  auto windowed = runtime::LoadedModel::load(test::default_model_path(), 2, attention::AttentionLayout::load(layout_path));
  ASSERT_EQ(windowed.model->attention_plan().groups.size(), 2u);
  const EvalTarget candidate{"sink_window_32", windowed};
  EvalOptions options;
  options.contexts = {256};
  options.passkey = false;
  options.max_num_batched_tokens = 32;
  const auto j = run_eval("cpu", full(), candidate, options);
  EXPECT_EQ(j["candidate"], "sink_window_32");
  const auto& forced = j["teacher_forced"]["contexts"].at(0)["all"];
  EXPECT_LT(forced["top1_agreement"].get<double>(), 1.0);
  EXPECT_GT(forced["top1_agreement"].get<double>(), 0.3);
  EXPECT_GT(forced["mean_kl"].get<double>(), 0.0);
  const auto& memory = j["memory_speed"]["contexts"].at(0);
  const auto& c = model->model->config();
  const int64_t per_layer_token = int64_t{2} * c.n_kv_heads * c.head_dim * 2;
  const int64_t reference = memory["reference"]["peak_kv_bytes"];
  const int64_t windowed_bytes = memory["candidate"]["peak_kv_bytes"];
  const int64_t block_all_layers = 16 * per_layer_token * c.n_layers;
  EXPECT_EQ(reference % block_all_layers, 0);
  // The two full layers keep every block; the 28 windowed ones, prefilled 32 tokens at a time,
  // at most a sink block and the blocks from 32 tokens behind a chunk to its end (up to five).
  const int64_t full_layers = reference / c.n_layers * 2;
  EXPECT_EQ(j["memory_speed"]["max_num_batched_tokens"], 32);
  EXPECT_GT(windowed_bytes, full_layers);
  EXPECT_LE(windowed_bytes, full_layers + 6 * 16 * per_layer_token * (c.n_layers - 2));
}

}  // namespace
}  // namespace strata::eval
