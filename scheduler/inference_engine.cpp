#include "scheduler/inference_engine.h"

#include <spdlog/spdlog.h>

namespace strata::scheduler {

InferenceEngine::InferenceEngine(runtime::LoadedModel& model, const SchedulerConfig& config)
    : scheduler_(model, config), stats_(scheduler_.stats()), thread_([this] { loop(); }) {}

InferenceEngine::~InferenceEngine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::future<SubmitResult> InferenceEngine::submit(Request request, EventSink sink) {
  Submission submission{std::move(request), std::move(sink), {}};
  auto future = submission.result.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      submission.result.set_value({SubmitStatus::kBusy, 0, "the engine is shutting down"});
      return future;
    }
    submissions_.push_back(std::move(submission));
  }
  wake_.notify_one();
  return future;
}

void InferenceEngine::cancel(uint64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancellations_.push_back(request_id);
  }
  wake_.notify_one();
}

SchedulerStats InferenceEngine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void InferenceEngine::loop() {
  for (;;) {
    std::deque<Submission> submissions;
    std::vector<uint64_t> cancellations;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !submissions_.empty() || !cancellations_.empty() || scheduler_.has_work();
      });
      submissions.swap(submissions_);
      cancellations.swap(cancellations_);
      stopping = stopping_;
    }
    for (auto& s : submissions) s.result.set_value(scheduler_.submit(std::move(s.request), std::move(s.sink)));
    for (uint64_t id : cancellations) scheduler_.cancel(id);
    if (stopping) scheduler_.cancel_all();
    try {
      scheduler_.step();
    } catch (const std::exception& e) {
      // A failed step must not take the server down: every request in it ends with the error.
      spdlog::error("scheduler step failed: {}", e.what());
      scheduler_.fail_all(e.what());
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_ = scheduler_.stats();
    }
    if (stopping && !scheduler_.has_work()) return;
  }
}

}  // namespace strata::scheduler
