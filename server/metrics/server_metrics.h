// The server's Prometheus metrics under vLLM's names, which routers such as the Kubernetes
// Gateway API Inference Extension scrape (vllm:num_requests_waiting, vllm:kv_cache_usage_perc,
// ...), plus a few strata: extras. docs/metrics.md describes each.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/request.h"
#include "scheduler/scheduler.h"
#include "server/metrics/metrics_registry.h"

namespace strata::metrics {

using Clock = std::chrono::steady_clock;

class ServerMetrics {
 public:
  explicit ServerMetrics(const std::string& model_name);

  // Once the scheduler exists.
  void set_cache_config(int32_t block_size, int32_t num_blocks);
  // Refreshes what mirrors the scheduler (gauges, token and cache counters) from `stats`
  // (nullopt while the model loads) and renders the exposition text.
  std::string render(const std::optional<scheduler::SchedulerStats>& stats);

 private:
  friend class RequestMetrics;

  Registry registry_;
  Gauge& running_;
  Gauge& waiting_;
  Gauge& gpu_cache_usage_;
  Gauge& kv_cache_usage_;
  Gauge& block_size_;
  Gauge& num_blocks_;
  Counter& prompt_tokens_;
  Counter& generation_tokens_;
  Counter& computed_prompt_tokens_;
  Counter& preemptions_;
  Counter& prefix_queries_;
  Counter& prefix_hits_;
  Counter& finished_stop_;
  Counter& finished_length_;
  Counter& finished_abort_;
  Counter& finished_error_;
  Histogram& time_to_first_token_;
  Histogram& inter_token_latency_;
  Histogram& e2e_latency_;
  Histogram& queue_time_;
};

// The timeline of one request, fed its events in order; observes the latency histograms and
// counts prompt tokens and finish reasons. Not thread-safe: one per request, used from the
// connection that owns the request.
class RequestMetrics {
 public:
  RequestMetrics(ServerMetrics& metrics, int32_t prompt_tokens, Clock::time_point submitted);
  // `at`: when the engine delivered the event (taken on its thread, before any queueing here).
  void on_event(const scheduler::SequenceEvent& event, Clock::time_point at);

 private:
  ServerMetrics& metrics_;
  int32_t prompt_tokens_;
  Clock::time_point submitted_;
  bool any_event_ = false;
  bool any_token_ = false;
  std::vector<std::optional<Clock::time_point>> last_token_at_;  // per sequence index
};

}  // namespace strata::metrics
