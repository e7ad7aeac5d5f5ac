#include "server/http/engine_client.h"

namespace strata::http {

EngineClient::EngineClient(scheduler::InferenceEngine& engine) : engine_(engine), thread_([this] { deliver_results(); }) {}

EngineClient::~EngineClient() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void EngineClient::submit(scheduler::Request request, scheduler::EventSink sink, ResultCallback on_result) {
  auto result = engine_.submit(std::move(request), std::move(sink));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back({std::move(result), std::move(on_result)});
  }
  wake_.notify_one();
}

void EngineClient::deliver_results() {
  for (;;) {
    Pending next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left to answer
      next = std::move(pending_.front());
      pending_.pop_front();
    }
    next.on_result(next.result.get());
  }
}

}  // namespace strata::http
