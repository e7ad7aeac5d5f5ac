// The thread-safe face of the scheduler for the front ends: a loop thread owns the Scheduler;
// submissions and cancellations from any thread are queued to it and applied before its next
// step, so no caller ever waits for a forward pass to take a lock.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler/scheduler.h"

namespace strata::scheduler {

class InferenceEngine {
 public:
  // Starts the loop thread. Throws std::invalid_argument for an invalid config.
  InferenceEngine(runtime::LoadedModel& model, const SchedulerConfig& config);
  // Cancels whatever is still in flight (each request gets its final event) and joins.
  ~InferenceEngine();
  InferenceEngine(const InferenceEngine&) = delete;
  InferenceEngine& operator=(const InferenceEngine&) = delete;

  // Queues a request. The future resolves before the loop's next step with accepted (and the
  // id), busy or invalid (with the reason); events then arrive on `sink`, on the loop thread.
  std::future<SubmitResult> submit(Request request, EventSink sink);
  // Ends a request at the loop's next step; unknown or finished ids are ignored.
  void cancel(uint64_t request_id);
  // As of the end of the last step.
  SchedulerStats stats() const;

 private:
  struct Submission {
    Request request;
    EventSink sink;
    std::promise<SubmitResult> result;
  };

  void loop();

  Scheduler scheduler_;  // touched by the loop thread only
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Submission> submissions_;
  std::vector<uint64_t> cancellations_;
  SchedulerStats stats_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace strata::scheduler
