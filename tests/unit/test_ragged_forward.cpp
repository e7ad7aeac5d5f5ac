// A ragged batch (prefill chunks and decodes of several sequences, scattered blocks) gives each
// sequence exactly the logits it gets alone: the forward is batch-invariant bit for bit. Run on
// SmolLM2 (Llama) and on Gemma 3 270M, whose longest sequence here passes its 512-token window.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <memory>
#include <random>
#include <string>

#include "engine/model/cpu_model_runner.h"
#include "engine/runtime/solo_sequence.h"
#include "tests/unit/test_paths.h"

namespace strata::model {
namespace {

struct Trace {
  std::vector<int32_t> prompt;
  std::vector<int32_t> generated;                 // greedy, fed back one per step
  std::vector<std::vector<float>> step_logits;    // after the prompt, then after each generated token
};

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

struct RaggedCase {
  std::string model_path;
  std::vector<int> prompt_lengths;
};

class RaggedForward : public ::testing::TestWithParam<RaggedCase> {
 protected:
  void SetUp() override {
    file = gguf::GgufFile::open(GetParam().model_path);
    model = std::make_unique<DecoderModel>(*file, 2);
    llama = model.get();
  }
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<DecoderModel> model;
  DecoderModel* llama = nullptr;
};

TEST_P(RaggedForward, BatchedChunkedScatteredEqualsAlone) {
  constexpr int kDecodeSteps = 3;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> any_token(0, llama->config().vocab_size - 1);
  std::vector<Trace> traces;
  for (int length : GetParam().prompt_lengths) {
    Trace t;
    for (int i = 0; i < length; ++i) t.prompt.push_back(any_token(rng));
    runtime::SoloSequence alone(cpu_runner_factory(*llama), length + kDecodeSteps);
    t.step_logits.push_back(alone.feed(t.prompt));
    for (int s = 0; s < kDecodeSteps; ++s) {
      t.generated.push_back(argmax(t.step_logits.back()));
      t.step_logits.push_back(alone.feed(std::span<const int32_t>(&t.generated.back(), 1)));
    }
    traces.push_back(std::move(t));
  }

  // One shared store; each sequence gets blocks scattered over it.
  constexpr int32_t kBlockSize = 4, kBlocks = 256;
  const std::vector<int32_t> group_blocks(llama->attention_plan().groups.size(), kBlocks);
  CpuKvCache kv(llama->config(), llama->attention_plan(), group_blocks, kBlockSize);
  std::vector<int32_t> all_blocks(kBlocks);
  std::iota(all_blocks.begin(), all_blocks.end(), 0);
  std::shuffle(all_blocks.begin(), all_blocks.end(), rng);
  std::vector<std::vector<int32_t>> tables;
  size_t next_block = 0;
  for (const auto& t : traces) {
    const size_t blocks = (t.prompt.size() + kDecodeSteps + kBlockSize - 1) / kBlockSize;
    tables.emplace_back(all_blocks.begin() + static_cast<std::ptrdiff_t>(next_block),
                        all_blocks.begin() + static_cast<std::ptrdiff_t>(next_block + blocks));
    next_block += blocks;
  }

  // Step 1: the first half of every prompt longer than one token (no logits) together with the
  // whole one-token prompt. Step 2: the rest of every prompt. Then decodes, all together.
  ForwardBatch step1, step2;
  for (size_t i = 0; i < traces.size(); ++i) {
    std::span<const int32_t> prompt = traces[i].prompt;
    const size_t half = prompt.size() / 2;
    if (half == 0) {
      step1.push_back({prompt, 0, {tables[i]}, LogitsWanted::kLast});
    } else {
      step1.push_back({prompt.first(half), 0, {tables[i]}, LogitsWanted::kNone});
      step2.push_back({prompt.subspan(half), static_cast<int32_t>(half), {tables[i]}, LogitsWanted::kLast});
    }
  }
  const auto vocab = static_cast<size_t>(llama->config().vocab_size);
  auto expect_same = [&](const std::vector<float>& batched, size_t row, const std::vector<float>& alone, const char* what) {
    ASSERT_EQ(alone.size(), vocab);
    EXPECT_EQ(std::memcmp(batched.data() + row * vocab, alone.data(), vocab * sizeof(float)), 0) << what;
  };
  auto out1 = llama->forward(step1, kv);
  ASSERT_EQ(out1.size(), vocab);  // only the one-token prompt asked for logits
  expect_same(out1, 0, traces[0].step_logits[0], "one-token prompt");
  auto out2 = llama->forward(step2, kv);
  for (size_t i = 1; i < traces.size(); ++i) expect_same(out2, i - 1, traces[i].step_logits[0], "prompt end");

  for (int s = 0; s < kDecodeSteps; ++s) {
    ForwardBatch decode;
    for (size_t i = 0; i < traces.size(); ++i) {
      decode.push_back({std::span<const int32_t>(&traces[i].generated[static_cast<size_t>(s)], 1),
                        static_cast<int32_t>(traces[i].prompt.size()) + s, {tables[i]}, LogitsWanted::kLast});
    }
    // Reverse the order of the batch on odd steps: position in the batch must not matter.
    if (s % 2 == 1) std::reverse(decode.begin(), decode.end());
    auto out = llama->forward(decode, kv);
    for (size_t i = 0; i < traces.size(); ++i) {
      const size_t row = s % 2 == 1 ? traces.size() - 1 - i : i;
      expect_same(out, row, traces[i].step_logits[static_cast<size_t>(s) + 1], "decode");
    }
  }
}

TEST_P(RaggedForward, RejectsMalformedBatches) {
  const std::vector<int32_t> blocks = {4};
  CpuKvCache kv(llama->config(), llama->attention_plan(), blocks, 4);
  std::vector<int32_t> table = {0, 1};
  const std::vector<int32_t> released = {-1, 1};
  std::vector<int32_t> tokens = {1, 2, 3};
  std::vector<int32_t> bad_token = {llama->config().vocab_size};
  EXPECT_THROW(llama->forward({}, kv), std::invalid_argument);
  EXPECT_THROW(llama->forward({{std::span<const int32_t>(), 0, {table}}}, kv), std::invalid_argument);
  EXPECT_THROW(llama->forward({{tokens, 6, {table}}}, kv), std::invalid_argument);  // needs 9 positions, table holds 8
  EXPECT_THROW(llama->forward({{bad_token, 0, {table}}}, kv), std::invalid_argument);
  EXPECT_THROW(llama->forward({{tokens, llama->config().context_length - 1, {table}}}, kv), std::invalid_argument);
  EXPECT_THROW(llama->forward({{tokens, 0, {}}}, kv), std::invalid_argument);              // no table for the group
  EXPECT_THROW(llama->forward({{tokens, 4, {released}}}, kv), std::invalid_argument);      // reads a released block
  EXPECT_THROW(llama->forward({{tokens, 0, {table, table}}}, kv), std::invalid_argument);  // two tables, one group
}

INSTANTIATE_TEST_SUITE_P(Models, RaggedForward,
                         ::testing::Values(RaggedCase{test::default_model_path(), {1, 7, 16, 17, 40}},
                                           RaggedCase{test::source_path("models/gemma-3-270m-q4_k_m.gguf"),
                                                      {1, 7, 17, 40, 530}}),
                         [](const ::testing::TestParamInfo<RaggedCase>& param_info) {
                           return param_info.index == 0 ? std::string("smollm2") : std::string("gemma3");
                         });

}  // namespace
}  // namespace strata::model
