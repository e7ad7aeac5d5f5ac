// Parity of the CPU forward with llama.cpp, one fixture per model: SmolLM2-135M-Instruct (Q4_1,
// Llama architecture) and Gemma 3 270M (Q4_K_M, base model, prompts past its 512-token window).
// Fixtures: tests/golden/parity/*.json, made by tests/golden/gen_llama_parity.py.
//
// Our forward matches llama.cpp's bit for bit wherever both compute the same float operations
// in the same order (matmuls, norms, RoPE, attention sums). They part where llama.cpp uses its
// own vectorized exp approximation (SiLU, softmax): an ulp there sometimes flips an 8-bit
// activation rounding, and these models (massive activations) amplify that into logit
// differences of up to ~1. llama.cpp's own flash-attention CPU path differs from its default
// path by as much; the fixture records that spread, and the tests hold us to it:
//  - teacher-forced logits within the spread of llama.cpp's two paths;
//  - argmax disagreements with the reference no more frequent than those of llama.cpp's
//    flash-attention path, and only where the reference's top two are within that spread;
//  - free-running greedy continuations identical until such a near-tie, and the token taken
//    there one of the reference's top 5 within that spread of its best.
//
// Gemma 3 falls short of the first on its own fixture, and the test says by how much
// (ModelParity::logit_tolerance): on the counting prompt (687 tokens, logits ~35) a few of the
// top-5 logits differ from the reference by up to ~6.9 where llama.cpp's two paths differ by up
// to ~4.9; everywhere else ours are as close to the reference as llama.cpp's flash-attention
// path (mean |diff| 0.23; argmax disagreements 6 against its 8). Its Q4_K and Q6_K matmuls
// now follow llama.cpp's (Q8_K activations, its float steps; before: max 8.6, mean 0.24, 8
// disagreements); where the rest of the difference comes from is not yet broken down.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "engine/runtime/generate.h"
#include "engine/model/cpu_model_runner.h"
#include "engine/runtime/solo_sequence.h"
#include "tests/unit/test_paths.h"

namespace strata {
namespace {

// What a fixture is held to: the largest plausible spread of llama.cpp's two paths (a sanity
// check of the fixture), and how far our logits may be from the reference, in units of it.
struct ModelParity {
  std::string fixture;
  double plausible_spread;
  double logit_tolerance;
};

// One model's fixture and the model it was made from (models/<fixture's "model">; the SmolLM2
// file is test::default_model_path(), which STRATA_TEST_MODEL may override).
struct ModelUnderTest {
  nlohmann::json fixture;
  runtime::LoadedModel loaded;
  double reference_spread = 0.0;  // between llama.cpp's two CPU attention paths, over every recorded logit
};

const ModelUnderTest& model_under_test(const std::string& fixture_name) {
  static std::map<std::string, std::unique_ptr<ModelUnderTest>> cache;
  auto& entry = cache[fixture_name];
  if (entry) return *entry;
  std::ifstream in(test::source_path("tests/golden/parity/" + fixture_name + ".json"));
  auto fixture = nlohmann::json::parse(in);
  const auto file = fixture["model"].get<std::string>();
  const auto path = file == "SmolLM2-135M-Instruct.Q4_1.gguf" ? test::default_model_path() : test::source_path("models/" + file);
  entry.reset(new ModelUnderTest{std::move(fixture), runtime::LoadedModel::load(path, 2)});
  for (const auto& c : entry->fixture["cases"]) {
    for (size_t step = 0; step < c["top5"].size(); ++step) {
      for (size_t i = 0; i < c["top5"][step].size(); ++i) {
        double diff = std::fabs(c["top5"][step][i][1].get<double>() - c["flash_attn_logits"][step][i].get<double>());
        entry->reference_spread = std::max(entry->reference_spread, diff);
      }
    }
  }
  return *entry;
}

struct ParityFixture : ::testing::TestWithParam<ModelParity> {
  void SetUp() override {
    const auto& m = model_under_test(GetParam().fixture);
    fixture = &m.fixture;
    loaded = &m.loaded;
    model = m.loaded.model.get();
    reference_spread = m.reference_spread;
  }
  static double top_gap(const nlohmann::json& step_top5) {
    return step_top5[0][1].get<double>() - step_top5[1][1].get<double>();
  }

  const nlohmann::json* fixture = nullptr;
  const runtime::LoadedModel* loaded = nullptr;
  model::DecoderModel* model = nullptr;
  double reference_spread = 0.0;
};

TEST_P(ParityFixture, FixtureIsComplete) {
  ASSERT_GE((*fixture)["cases"].size(), 8u);
  ASSERT_GT(reference_spread, 0.0);
  ASSERT_LT(reference_spread, GetParam().plausible_spread) << "the fixture's two llama.cpp paths disagree implausibly";
}

// The prompts themselves: our chat template and tokenizer give llama.cpp's ids.
TEST_P(ParityFixture, PromptIdsMatchLlamaCpp) {
  for (const auto& c : (*fixture)["cases"]) {
    const auto text = c["text"].get<std::string>();
    SCOPED_TRACE(text);
    const bool chat = c["kind"] == "chat";
    if (chat) {
      EXPECT_EQ(runtime::render_chat_prompt(*loaded, c["system"], c["user"]), text);
    }
    EXPECT_EQ(runtime::tokenize_prompt(*loaded, text, /*parse_special=*/chat), c["prompt_ids"].get<std::vector<int32_t>>());
  }
}

TEST_P(ParityFixture, TeacherForcedLogitsWithinLlamaCppSpread) {
  int ours_disagree = 0, flash_disagree = 0, positions = 0;
  double max_diff = 0.0, sum_diff = 0.0;
  int n_diffs = 0;
  for (const auto& c : (*fixture)["cases"]) {
    SCOPED_TRACE(c["text"].get<std::string>());
    auto tokens = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto greedy = c["greedy"].get<std::vector<int32_t>>();
    const size_t first = tokens.size() - 1;
    tokens.insert(tokens.end(), greedy.begin(), greedy.end() - 1);
    runtime::SoloSequence sequence(model::cpu_runner_factory(*model), static_cast<int32_t>(tokens.size()));
    const auto logits = sequence.feed(tokens, model::LogitsWanted::kAll);
    const size_t vocab = static_cast<size_t>(model->config().vocab_size);
    for (size_t step = 0; step < greedy.size(); ++step) {
      const float* row = logits.data() + (first + step) * vocab;
      const auto& top5 = c["top5"][step];
      for (const auto& entry : top5) {
        double diff = std::fabs(row[entry[0].get<size_t>()] - entry[1].get<double>());
        max_diff = std::max(max_diff, diff);
        sum_diff += diff;
        ++n_diffs;
        EXPECT_LE(diff, GetParam().logit_tolerance * reference_spread) << "step " << step << " token " << entry[0];
      }
      const auto ours = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
      // llama.cpp's flash-attention path's choice among the reference's top 5.
      const auto& fa = c["flash_attn_logits"][step];
      const size_t fa_best = static_cast<size_t>(std::max_element(fa.begin(), fa.end()) - fa.begin());
      ++positions;
      flash_disagree += fa_best != 0;
      if (ours != greedy[step]) {
        ++ours_disagree;
        EXPECT_LE(top_gap(top5), reference_spread) << "step " << step << ": argmax " << ours << " vs " << greedy[step]
                                                   << " where the reference is not near a tie";
      }
    }
  }
  EXPECT_LE(ours_disagree, flash_disagree);
  std::printf("[parity] teacher-forced over %d positions: max |logit diff| %.4f, mean %.4f "
              "(llama.cpp flash-attn vs default: max %.4f); argmax disagreements: ours %d, llama.cpp flash-attn %d\n",
              positions, max_diff, sum_diff / n_diffs, reference_spread, ours_disagree, flash_disagree);
}

TEST_P(ParityFixture, GreedyContinuationsIdenticalUntilANearTie) {
  int identical = 0;
  for (const auto& c : (*fixture)["cases"]) {
    SCOPED_TRACE(c["text"].get<std::string>());
    const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto expected = c["greedy"].get<std::vector<int32_t>>();
    runtime::SoloSequence sequence(model::cpu_runner_factory(*model), static_cast<int32_t>(prompt.size() + expected.size()));
    auto logits = sequence.feed(prompt);
    size_t step = 0;
    for (; step < expected.size(); ++step) {
      const auto ours = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      if (ours != expected[step]) {
        const auto& top5 = c["top5"][step];
        auto taken = std::find_if(top5.begin(), top5.end(), [&](const auto& e) { return e[0].template get<int32_t>() == ours; });
        ASSERT_NE(taken, top5.end()) << "step " << step << ": took " << ours << ", outside the reference's top 5";
        EXPECT_LE(top5[0][1].get<double>() - (*taken)[1].get<double>(), reference_spread)
            << "step " << step << ": diverged where the reference is not near a tie";
        std::printf("[parity] '%.30s...' diverges at step %zu (reference top-2 gap %.4f)\n",
                    c["text"].get<std::string>().c_str(), step, top_gap(top5));
        break;
      }
      logits = sequence.feed(std::span<const int32_t>(&ours, 1));
    }
    identical += step == expected.size();
  }
  std::printf("[parity] %d of %zu greedy continuations identical for all %zu tokens\n", identical,
              (*fixture)["cases"].size(), (*fixture)["cases"][0]["greedy"].size());
}

INSTANTIATE_TEST_SUITE_P(Models, ParityFixture,
                         ::testing::Values(ModelParity{"smollm2-135m-instruct-q4_1", 2.0, 1.0},
                                           // The counting prompt makes llama.cpp's paths part by ~4.9.
                                           ModelParity{"gemma-3-270m-q4_k_m", 6.0, 2.0}),
                         [](const ::testing::TestParamInfo<ModelParity>& param_info) {
                           std::string name = param_info.param.fixture;
                           for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

}  // namespace
}  // namespace strata
