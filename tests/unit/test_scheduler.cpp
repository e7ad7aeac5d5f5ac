// The continuous-batching scheduler on the real model: every request gets exactly the tokens it
// gets alone, whatever the batch, chunking, prefix sharing or preemption.
#include <gtest/gtest.h>

#include <map>

#include "engine/runtime/generate.h"
#include "scheduler/scheduler.h"
#include "tests/unit/test_paths.h"

namespace strata::scheduler {
namespace {

constexpr const char* kText =
    "The lighthouse keeper climbed the spiral stairs every evening at dusk. He trimmed the wick, wound the "
    "clockwork that turned the great lens, and wrote the weather in a leather book: wind from the west, "
    "sea moderate, two fishing boats returning late. In winter the storms came from the north and the "
    "spray reached the gallery windows; in summer the nights were short and the gulls never slept. "
    "Ships he would never board passed on the horizon, and he named each one after a city he had read about.";

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  std::optional<FinishReason> finish;
  std::optional<Usage> usage;
  std::vector<StepLogprobs> logprobs;
};

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model = new runtime::LoadedModel(runtime::LoadedModel::load(test::default_model_path(), 2));
    // Twice over: long enough for every prompt below.
    text_ids = new std::vector<int32_t>(model->tokenizer->encode(std::string(kText) + "\n\n" + kText, true, false));
    ASSERT_GT(text_ids->size(), 200u);
  }
  static void TearDownTestSuite() {
    delete text_ids;
    delete model;
  }

  static std::vector<int32_t> prompt(size_t length, size_t offset = 0) {
    return {text_ids->begin() + static_cast<std::ptrdiff_t>(offset),
            text_ids->begin() + static_cast<std::ptrdiff_t>(offset + length)};
  }
  static GenerationParams greedy(int32_t max_tokens) {
    GenerationParams p;
    p.sampling.temperature = 0.0f;
    p.max_tokens = max_tokens;
    return p;
  }
  // The reference: the single-sequence generator, nothing shared.
  static std::vector<int32_t> alone(const std::vector<int32_t>& ids, int32_t max_tokens) {
    runtime::GenerationRequest request;
    request.prompt = ids;
    request.sampling.temperature = 0.0f;
    request.max_tokens = max_tokens;
    return runtime::generate(*model, request, [](std::string_view) {}).tokens;
  }

  // Submits and returns a sink target keyed by (request id, index).
  uint64_t submit(Scheduler& s, std::vector<int32_t> ids, GenerationParams params) {
    auto result = s.submit(Request{std::move(ids), std::move(params)}, [this](const SequenceEvent& e) {
      Outcome& o = outcomes[std::pair(e.request_id, e.index)];
      EXPECT_FALSE(o.finish.has_value()) << "event after the finish";
      o.tokens.insert(o.tokens.end(), e.tokens.begin(), e.tokens.end());
      o.text += e.text;
      o.logprobs.insert(o.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
      if (e.finish) o.finish = e.finish;
      if (e.usage) o.usage = e.usage;
    });
    EXPECT_EQ(result.status, SubmitStatus::kAccepted) << result.reason;
    return result.request_id;
  }
  static void drain(Scheduler& s) {
    for (int guard = 0; s.has_work(); ++guard) {
      s.step();
      s.kv_cache().check_invariants();
      ASSERT_LT(guard, 100000);
    }
  }

  Outcome& of(uint64_t request_id, int32_t index = 0) { return outcomes[std::pair(request_id, index)]; }

  std::map<std::pair<uint64_t, int32_t>, Outcome> outcomes;
  static inline runtime::LoadedModel* model = nullptr;
  static inline std::vector<int32_t>* text_ids = nullptr;
};

TEST_F(SchedulerTest, SixteenRequestsWithChunkedPrefillMatchAlone) {
  SchedulerConfig config;
  config.max_num_batched_tokens = 48;  // forces chunked prefill and mixes it with decodes
  Scheduler s(*model, config);
  std::vector<std::pair<uint64_t, std::vector<int32_t>>> expected;
  for (int i = 0; i < 16; ++i) {
    auto ids = prompt(static_cast<size_t>(3 + 7 * i), static_cast<size_t>(i));
    const int32_t max_tokens = 4 + (i * 5) % 17;
    expected.emplace_back(submit(s, ids, greedy(max_tokens)), alone(ids, max_tokens));
  }
  drain(s);
  for (const auto& [id, tokens] : expected) {
    EXPECT_EQ(of(id).tokens, tokens) << "request " << id;
    EXPECT_TRUE(of(id).usage.has_value());
  }
  EXPECT_EQ(s.stats().kv_blocks_used, 0);
  EXPECT_GT(s.stats().steps, 16);
}

TEST_F(SchedulerTest, SharedPrefixHitsTheCacheAndChangesNothing) {
  Scheduler s(*model, SchedulerConfig{});
  auto first = prompt(100);
  auto second = prompt(96);
  second.insert(second.end(), text_ids->begin() + 100, text_ids->begin() + 110);
  const auto a = submit(s, first, greedy(8));
  drain(s);
  const auto hits_before = s.stats().prefix_hit_tokens;
  const auto b = submit(s, second, greedy(8));
  drain(s);
  EXPECT_GE(s.stats().prefix_hit_tokens - hits_before, 96);
  EXPECT_EQ(of(b).usage->cached_prompt_tokens, 96);
  EXPECT_EQ(of(a).tokens, alone(first, 8));
  EXPECT_EQ(of(b).tokens, alone(second, 8));
}

TEST_F(SchedulerTest, TinyBlockPoolPreemptsAndStillMatchesAlone) {
  SchedulerConfig config;
  config.num_kv_blocks = 10;  // 160 tokens for 6 sequences of up to 65
  config.block_size = 16;
  Scheduler s(*model, config);
  std::vector<std::pair<uint64_t, std::vector<int32_t>>> expected;
  for (int i = 0; i < 6; ++i) {
    auto ids = prompt(static_cast<size_t>(30 + 3 * i), static_cast<size_t>(5 * i));
    expected.emplace_back(submit(s, ids, greedy(20)), alone(ids, 20));
  }
  drain(s);
  for (const auto& [id, tokens] : expected) EXPECT_EQ(of(id).tokens, tokens) << "request " << id;
  EXPECT_GT(s.stats().preemptions, 0);
  EXPECT_EQ(s.stats().kv_blocks_used, 0);
}

TEST_F(SchedulerTest, CancellationFreesEverythingByTheNextStep) {
  Scheduler s(*model, SchedulerConfig{});
  const auto keep = submit(s, prompt(40), greedy(30));
  const auto drop = submit(s, prompt(50, 3), greedy(30));
  for (int i = 0; i < 3; ++i) s.step();
  EXPECT_GT(s.stats().kv_blocks_used, 0);
  s.cancel(drop);
  s.step();
  EXPECT_EQ(of(drop).finish, FinishReason::kCancelled);
  EXPECT_TRUE(of(drop).usage.has_value());
  drain(s);
  EXPECT_EQ(of(keep).tokens, alone(prompt(40), 30));
  EXPECT_EQ(s.stats().kv_blocks_used, 0);
  EXPECT_EQ(s.stats().running_requests + s.stats().waiting_requests, 0);
}

TEST_F(SchedulerTest, FullWaitingQueueAnswersBusy) {
  SchedulerConfig config;
  config.max_waiting = 2;
  Scheduler s(*model, config);
  submit(s, prompt(5), greedy(2));
  submit(s, prompt(6), greedy(2));
  auto third = s.submit(Request{prompt(7), greedy(2)}, [](const SequenceEvent&) {});
  EXPECT_EQ(third.status, SubmitStatus::kBusy);
  drain(s);
  EXPECT_EQ(s.submit(Request{prompt(7), greedy(2)}, [](const SequenceEvent&) {}).status, SubmitStatus::kAccepted);
}

TEST_F(SchedulerTest, InvalidRequestsAreRefusedWithAReason) {
  SchedulerConfig config;
  config.num_kv_blocks = 4;
  Scheduler s(*model, config);
  auto refuse = [&](std::vector<int32_t> ids, GenerationParams p, const std::string& fragment) {
    auto r = s.submit(Request{std::move(ids), std::move(p)}, [](const SequenceEvent&) {});
    EXPECT_EQ(r.status, SubmitStatus::kInvalid);
    EXPECT_NE(r.reason.find(fragment), std::string::npos) << r.reason;
  };
  refuse({}, greedy(4), "no tokens");
  refuse({1, 49152}, greedy(4), "outside the vocabulary");
  refuse(prompt(5), greedy(0), "max_tokens");
  refuse(prompt(5), greedy(8192), "exceeds the context length");
  refuse(prompt(60), greedy(10), "cannot fit in the KV cache");
  auto p = greedy(4);
  p.sampling.top_p = 0.0f;
  refuse(prompt(5), p, "top_p");
  p = greedy(4);
  p.sampling.logit_bias[60000] = 1.0f;
  refuse(prompt(5), p, "logit_bias token id 60000");
  EXPECT_FALSE(s.has_work());
}

TEST_F(SchedulerTest, StopStringsStopTokensAndLengthLimits) {
  const auto ids = prompt(30);
  Scheduler reference(*model, SchedulerConfig{});
  const auto free_run = submit(reference, ids, greedy(24));
  drain(reference);
  const Outcome full = of(free_run);
  ASSERT_EQ(full.finish, FinishReason::kLength);
  ASSERT_GE(full.text.size(), 12u);
  outcomes.clear();  // request ids start again in the next scheduler

  Scheduler s(*model, SchedulerConfig{});
  // A stop string from the middle of the free-running text: the text ends right before it.
  const std::string stop = full.text.substr(full.text.size() / 2, 4);
  auto p = greedy(24);
  p.stop = {stop};
  const auto by_string = submit(s, ids, p);
  // A stop token: the sixth generated token, which is not emitted.
  p = greedy(24);
  p.stop_token_ids = {full.tokens[5]};
  const auto by_token = submit(s, ids, p);
  drain(s);
  EXPECT_EQ(of(by_string).finish, FinishReason::kStop);
  EXPECT_EQ(of(by_string).text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(of(by_token).finish, FinishReason::kStop);
  const auto first = std::find(full.tokens.begin(), full.tokens.end(), full.tokens[5]) - full.tokens.begin();
  EXPECT_EQ(of(by_token).tokens, std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + first));
}

TEST_F(SchedulerTest, EndOfTurnStopsUnlessIgnoredOrBelowMinTokens) {
  const std::string chat = runtime::render_chat_prompt(*model, "", "Say hello.");
  const auto ids = runtime::tokenize_prompt(*model, chat, true);
  Scheduler s(*model, SchedulerConfig{});
  const auto normal = submit(s, ids, greedy(64));
  auto p = greedy(64);
  p.ignore_eos = true;
  const auto ignoring = submit(s, ids, p);
  p = greedy(64);
  p.min_tokens = 40;
  const auto at_least = submit(s, ids, p);
  drain(s);
  const auto& n = of(normal);
  ASSERT_EQ(n.finish, FinishReason::kStop) << "the chat answer should end with an end-of-turn token";
  ASSERT_LT(n.tokens.size(), 40u);
  EXPECT_EQ(of(ignoring).finish, FinishReason::kLength);
  EXPECT_EQ(of(ignoring).usage->completion_tokens, 64);
  EXPECT_GE(of(at_least).tokens.size(), 40u);
  for (int32_t t : std::vector<int32_t>(of(at_least).tokens.begin(), of(at_least).tokens.begin() + 40)) {
    EXPECT_FALSE(model->tokenizer->is_end_of_generation(t));
  }
}

TEST_F(SchedulerTest, ParallelSamplesShareThePromptAndFollowTheirSeeds) {
  const auto ids = prompt(40);
  auto sampled = [](int32_t n, uint64_t seed) {
    GenerationParams p;
    p.sampling.temperature = 0.9f;
    p.sampling.seed = seed;
    p.max_tokens = 12;
    p.n = n;
    return p;
  };
  Scheduler s(*model, SchedulerConfig{});
  const auto pair = submit(s, ids, sampled(2, 5));
  const auto five = submit(s, ids, sampled(1, 5));
  const auto six = submit(s, ids, sampled(1, 6));
  drain(s);
  EXPECT_EQ(of(pair).tokens, of(five).tokens);
  EXPECT_EQ(of(pair, 1).tokens, of(six).tokens);
  EXPECT_NE(of(pair).tokens, of(pair, 1).tokens);
  EXPECT_EQ(of(pair, 1).usage->completion_tokens, 24);  // usage rides on the last event
}

TEST_F(SchedulerTest, LogprobsDescribeTheRawDistribution) {
  Scheduler s(*model, SchedulerConfig{});
  auto p = greedy(6);
  p.logprobs = 3;
  const auto id = submit(s, prompt(20), p);
  drain(s);
  const auto& o = of(id);
  ASSERT_EQ(o.logprobs.size(), o.tokens.size());
  for (size_t i = 0; i < o.tokens.size(); ++i) {
    const auto& step = o.logprobs[i];
    ASSERT_EQ(step.top.size(), 3u);
    EXPECT_EQ(step.chosen.token, o.tokens[i]);
    EXPECT_EQ(step.top[0].token, o.tokens[i]);  // greedy picks the most likely
    EXPECT_LE(step.chosen.logprob, 0.0f);
    EXPECT_GE(step.top[0].logprob, step.top[1].logprob);
  }
}

TEST_F(SchedulerTest, LowerPriorityValueRunsFirst) {
  SchedulerConfig config;
  config.max_num_seqs = 1;
  Scheduler s(*model, config);
  std::vector<uint64_t> order;
  auto record = [&order](const SequenceEvent& e) {
    if (order.empty() || order.back() != e.request_id) order.push_back(e.request_id);
  };
  auto p = greedy(3);
  p.priority = 5;
  const auto late = s.submit(Request{prompt(10), p}, record).request_id;
  p.priority = 0;
  const auto urgent = s.submit(Request{prompt(12), p}, record).request_id;
  drain(s);
  EXPECT_EQ(order, (std::vector<uint64_t>{urgent, late}));
}

}  // namespace
}  // namespace strata::scheduler
