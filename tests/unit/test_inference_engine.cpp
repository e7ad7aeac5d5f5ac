// The scheduler behind its thread-safe API: concurrent submitters, cancellation from another
// thread, and shutdown with requests in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "scheduler/inference_engine.h"
#include "tests/unit/test_paths.h"

namespace strata::scheduler {
namespace {

// Collects one request's events and lets a thread wait for its end.
struct Collector {
  std::mutex mutex;
  std::condition_variable done_cv;
  std::vector<int32_t> tokens;
  std::optional<FinishReason> finish;
  int events = 0;

  EventSink sink() {
    return [this](const SequenceEvent& e) {
      std::lock_guard<std::mutex> lock(mutex);
      ++events;
      tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
      if (e.finish) {
        finish = e.finish;
        done_cv.notify_all();
      }
    };
  }
  FinishReason wait() {
    std::unique_lock<std::mutex> lock(mutex);
    EXPECT_TRUE(done_cv.wait_for(lock, std::chrono::minutes(2), [&] { return finish.has_value(); }));
    return finish.value_or(FinishReason::kError);
  }
};

class InferenceEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model = new runtime::LoadedModel(runtime::LoadedModel::load(test::default_model_path(), 2)); }
  static void TearDownTestSuite() { delete model; }
  static GenerationParams greedy(int32_t max_tokens) {
    GenerationParams p;
    p.sampling.temperature = 0.0f;
    p.max_tokens = max_tokens;
    return p;
  }
  static std::vector<int32_t> prompt(const std::string& text) { return model->tokenizer->encode(text, true, false); }
  static inline runtime::LoadedModel* model = nullptr;
};

TEST_F(InferenceEngineTest, ConcurrentSubmittersGetConsistentResults) {
  InferenceEngine engine(*model, SchedulerConfig{});
  const std::vector<std::string> texts = {"The river wound through the valley", "Counting backwards from ten:"};
  std::vector<std::unique_ptr<Collector>> collectors(8);
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      for (int j = 0; j < 2; ++j) {
        auto& c = collectors[static_cast<size_t>(2 * t + j)];
        c = std::make_unique<Collector>();
        auto result = engine.submit(Request{prompt(texts[static_cast<size_t>(j)]), greedy(12)}, c->sink()).get();
        EXPECT_EQ(result.status, SubmitStatus::kAccepted) << result.reason;
      }
    });
  }
  for (auto& s : submitters) s.join();
  for (auto& c : collectors) EXPECT_EQ(c->wait(), FinishReason::kLength);
  // The same prompt gives the same greedy tokens whichever thread sent it and whatever ran beside it.
  for (int t = 1; t < 4; ++t) {
    EXPECT_EQ(collectors[static_cast<size_t>(2 * t)]->tokens, collectors[0]->tokens);
    EXPECT_EQ(collectors[static_cast<size_t>(2 * t + 1)]->tokens, collectors[1]->tokens);
  }
}

TEST_F(InferenceEngineTest, CancelFromAnotherThreadFreesTheBlocks) {
  InferenceEngine engine(*model, SchedulerConfig{});
  Collector c;
  std::atomic<bool> first_event{false};
  auto sink = c.sink();
  auto result = engine.submit(Request{prompt("Once upon a time"), greedy(500)}, [&](const SequenceEvent& e) {
    sink(e);
    first_event = true;
  }).get();
  ASSERT_EQ(result.status, SubmitStatus::kAccepted);
  while (!first_event) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread([&] { engine.cancel(result.request_id); }).join();
  EXPECT_EQ(c.wait(), FinishReason::kCancelled);
  for (int i = 0; i < 1000 && engine.stats().kv_blocks_used != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
  EXPECT_EQ(engine.stats().running_requests, 0);
}

TEST_F(InferenceEngineTest, InvalidRequestsAreAnsweredThroughTheFuture) {
  InferenceEngine engine(*model, SchedulerConfig{});
  auto result = engine.submit(Request{{}, greedy(4)}, [](const SequenceEvent&) {}).get();
  EXPECT_EQ(result.status, SubmitStatus::kInvalid);
  EXPECT_FALSE(result.reason.empty());
}

TEST_F(InferenceEngineTest, ShutdownEndsRequestsInFlight) {
  Collector c;
  {
    InferenceEngine engine(*model, SchedulerConfig{});
    ASSERT_EQ(engine.submit(Request{prompt("A long story begins"), greedy(1000)}, c.sink()).get().status,
              SubmitStatus::kAccepted);
  }
  EXPECT_EQ(c.wait(), FinishReason::kCancelled);
}

}  // namespace
}  // namespace strata::scheduler
