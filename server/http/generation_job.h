// One generation request of either OpenAI endpoint, from submission to its last byte: turns
// the engine's events into a streamed (SSE) or complete response and feeds the request's
// metrics. Not thread-safe: its connection drives it from one strand.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler/request.h"
#include "scheduler/scheduler.h"
#include "server/http/generation_options.h"
#include "server/http/http_message.h"
#include "server/http/response_format.h"
#include "server/metrics/server_metrics.h"

namespace strata::http {

class GenerationJob {
 public:
  GenerationJob(std::unique_ptr<ResponseFormat> format, scheduler::Request request, const GenerationOptions& options,
                std::string model_name, metrics::ServerMetrics& metrics);

  bool streaming() const { return stream_; }
  // The request to submit; starts the request's clock. Call once, right before submitting.
  scheduler::Request take_request();
  // The answer when the engine refused the request: 429 (with Retry-After) when its queue is
  // full, else 400 with the engine's reason.
  static HttpResponse refusal(const scheduler::SubmitResult& result);

  // Streaming, once accepted: the bytes that open the event stream.
  std::string stream_opening() const;
  // Takes the request's next event (`at`: when the engine delivered it). Streaming: returns
  // its SSE bytes, and after the last event the closing ones; otherwise returns "".
  std::string on_event(const scheduler::SequenceEvent& event, metrics::Clock::time_point at);
  // After the request's last event.
  bool finished() const { return finished_; }
  // Not streaming, once finished: 200 with the completion, 500 if a sequence failed, 503 if it
  // was cancelled (the server shut down before it ended).
  HttpResponse response() const;

 private:
  struct Choice {
    std::string text;                                // not streaming: all of it
    std::vector<scheduler::StepLogprobs> logprobs;   // not streaming: all of them
    size_t text_offset = 0;                          // streaming: bytes sent so far
    std::optional<scheduler::FinishReason> finish;
    std::string error;
  };

  nlohmann::ordered_json envelope(nlohmann::ordered_json choices) const;
  nlohmann::ordered_json usage_json() const;

  std::unique_ptr<ResponseFormat> format_;
  scheduler::Request request_;
  const bool stream_;
  const bool include_usage_;
  const bool want_logprobs_;
  const std::string id_;
  const int64_t created_;
  const std::string model_name_;
  metrics::ServerMetrics& metrics_;
  std::optional<metrics::RequestMetrics> request_metrics_;  // from take_request()
  std::vector<Choice> choices_;
  scheduler::Usage usage_;
  bool finished_ = false;
};

}  // namespace strata::http
