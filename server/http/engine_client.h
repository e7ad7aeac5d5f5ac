// The front ends' non-blocking access to the InferenceEngine. InferenceEngine::submit's future
// resolves only at the engine loop's next step, after a forward pass, and no I/O thread may
// wait that long: a helper thread waits for the futures, in submission order, and hands each
// answer to its callback.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "scheduler/inference_engine.h"

namespace strata::http {

class EngineClient {
 public:
  using ResultCallback = std::function<void(const scheduler::SubmitResult&)>;

  explicit EngineClient(scheduler::InferenceEngine& engine);
  // Waits for the answers still pending (the engine answers every submission, also while it
  // shuts down) and joins the helper thread.
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // `sink` gets the events on the engine's thread and `on_result` the answer on the helper
  // thread; neither may block.
  void submit(scheduler::Request request, scheduler::EventSink sink, ResultCallback on_result);
  void cancel(uint64_t request_id) { engine_.cancel(request_id); }
  scheduler::SchedulerStats stats() const { return engine_.stats(); }

 private:
  struct Pending {
    std::future<scheduler::SubmitResult> result;
    ResultCallback on_result;
  };

  void deliver_results();

  scheduler::InferenceEngine& engine_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace strata::http
