#include "server/metrics/server_metrics.h"

namespace strata::metrics {
namespace {

// vLLM's bucket bounds, so dashboards built for it read ours the same way.
const std::vector<double> kTimeToFirstTokenBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,   0.75,
                                                      1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kInterTokenBuckets = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,  0.3,  0.4, 0.5,
                                                0.75, 1.0,   2.5,  5.0,   7.5,  10.0, 20.0, 40.0, 80.0};
const std::vector<double> kRequestLatencyBuckets = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                                                    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

ServerMetrics::ServerMetrics(const std::string& model_name)
    : registry_({{"model_name", model_name}}),
      running_(registry_.gauge("vllm:num_requests_running", "Requests with KV blocks in the running batch.")),
      waiting_(registry_.gauge("vllm:num_requests_waiting", "Requests waiting to be scheduled (preempted ones included).")),
      gpu_cache_usage_(registry_.gauge("vllm:gpu_cache_usage_perc",
                                       "Fraction of KV-cache blocks held by requests, 0 to 1 (vLLM v0 name).")),
      kv_cache_usage_(registry_.gauge("vllm:kv_cache_usage_perc", "Fraction of KV-cache blocks held by requests, 0 to 1.")),
      block_size_(registry_.gauge("strata:kv_cache_block_size", "Tokens per KV-cache block.")),
      num_blocks_(registry_.gauge("strata:kv_cache_num_blocks", "KV-cache blocks in the pool.")),
      prompt_tokens_(registry_.counter("vllm:prompt_tokens_total", "Prompt tokens of requests whose prefill completed.")),
      generation_tokens_(registry_.counter("vllm:generation_tokens_total",
                                           "Tokens sampled, end-of-generation tokens included.")),
      computed_prompt_tokens_(registry_.counter("strata:prompt_tokens_computed_total",
                                                "Prompt tokens run through the model (prefix-cache hits excluded, "
                                                "recomputation after preemption included).")),
      preemptions_(registry_.counter("vllm:num_preemptions_total", "Sequences preempted (KV blocks taken back).")),
      prefix_queries_(registry_.counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.")),
      prefix_hits_(registry_.counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the prefix cache.")),
      finished_stop_(registry_.counter("vllm:request_success_total", "Finished sequences by finish reason.",
                                       {{"finished_reason", "stop"}})),
      finished_length_(registry_.counter("vllm:request_success_total", "Finished sequences by finish reason.",
                                         {{"finished_reason", "length"}})),
      finished_abort_(registry_.counter("vllm:request_success_total", "Finished sequences by finish reason.",
                                        {{"finished_reason", "abort"}})),
      finished_error_(registry_.counter("vllm:request_success_total", "Finished sequences by finish reason.",
                                        {{"finished_reason", "error"}})),
      time_to_first_token_(registry_.histogram("vllm:time_to_first_token_seconds",
                                               "From submission to the first generated token.", kTimeToFirstTokenBuckets)),
      inter_token_latency_(registry_.histogram("vllm:inter_token_latency_seconds",
                                               "Between consecutive tokens of a sequence.", kInterTokenBuckets)),
      e2e_latency_(registry_.histogram("vllm:e2e_request_latency_seconds", "From submission to the request's last event.",
                                       kRequestLatencyBuckets)),
      queue_time_(registry_.histogram("vllm:request_queue_time_seconds",
                                      "From submission to the request's first event (the end of its first step).",
                                      kRequestLatencyBuckets)) {}

void ServerMetrics::set_cache_config(int32_t block_size, int32_t num_blocks) {
  block_size_.set(block_size);
  num_blocks_.set(num_blocks);
}

std::string ServerMetrics::render(const std::optional<scheduler::SchedulerStats>& stats) {
  if (stats) {
    running_.set(stats->running_requests);
    waiting_.set(stats->waiting_requests);
    gpu_cache_usage_.set(stats->kv_usage);
    kv_cache_usage_.set(stats->kv_usage);
    generation_tokens_.set_total(static_cast<double>(stats->generated_tokens));
    computed_prompt_tokens_.set_total(static_cast<double>(stats->prompt_tokens));
    preemptions_.set_total(static_cast<double>(stats->preemptions));
    prefix_queries_.set_total(static_cast<double>(stats->prefix_queried_tokens));
    prefix_hits_.set_total(static_cast<double>(stats->prefix_hit_tokens));
  }
  return registry_.render();
}

RequestMetrics::RequestMetrics(ServerMetrics& metrics, int32_t prompt_tokens, Clock::time_point submitted)
    : metrics_(metrics), prompt_tokens_(prompt_tokens), submitted_(submitted) {}

void RequestMetrics::on_event(const scheduler::SequenceEvent& event, Clock::time_point at) {
  using scheduler::FinishReason;
  if (!any_event_) {
    any_event_ = true;
    metrics_.queue_time_.observe(seconds(at - submitted_));
  }
  // An event carries a sampled token unless it only ends the sequence without one (cancelled,
  // failed); an end-of-generation token is sampled but not in `tokens`.
  const bool sampled = !event.tokens.empty() || event.finish == FinishReason::kStop || event.finish == FinishReason::kLength;
  if (sampled) {
    if (!any_token_) {
      any_token_ = true;
      metrics_.time_to_first_token_.observe(seconds(at - submitted_));
      metrics_.prompt_tokens_.inc(prompt_tokens_);
    }
    const auto index = static_cast<size_t>(event.index);
    if (index >= last_token_at_.size()) last_token_at_.resize(index + 1);
    if (last_token_at_[index]) metrics_.inter_token_latency_.observe(seconds(at - *last_token_at_[index]));
    last_token_at_[index] = at;
  }
  if (event.finish) {
    switch (*event.finish) {
      case FinishReason::kStop: metrics_.finished_stop_.inc(); break;
      case FinishReason::kLength: metrics_.finished_length_.inc(); break;
      case FinishReason::kCancelled: metrics_.finished_abort_.inc(); break;
      case FinishReason::kError: metrics_.finished_error_.inc(); break;
    }
  }
  if (event.usage) metrics_.e2e_latency_.observe(seconds(at - submitted_));
}

}  // namespace strata::metrics
