// Hands a request's events from the engine's loop thread to the thread serving its call, each
// stamped with the time the engine delivered it (for the latency metrics).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "scheduler/request.h"

namespace strata::server {

struct StampedEvent {
  scheduler::SequenceEvent event;
  std::chrono::steady_clock::time_point at;
};

class EventQueue {
 public:
  void push(const scheduler::SequenceEvent& event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back({event, std::chrono::steady_clock::now()});
    }
    ready_.notify_one();
  }
  // The next event, or nullopt when none arrived within `wait`.
  std::optional<StampedEvent> pop(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, wait, [&] { return !events_.empty(); })) return std::nullopt;
    auto event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StampedEvent> events_;
};

}  // namespace strata::server
