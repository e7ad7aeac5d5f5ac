#include "server/http/generation_job.h"

#include <ctime>
#include <random>

#include "server/http/api_error.h"
#include "server/http/json_text.h"

namespace strata::http {
namespace {

using nlohmann::ordered_json;
using scheduler::FinishReason;

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kHex[rng() % 16];
  return id;
}

std::string sse(const ordered_json& data) { return "data: " + to_json_text(data) + "\n\n"; }

// OpenAI knows stop and length; a cancelled sequence reads "abort" as in vLLM.
ordered_json finish_reason_json(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "abort";
    case FinishReason::kError: return "error";
  }
  return "error";
}

}  // namespace

GenerationJob::GenerationJob(std::unique_ptr<ResponseFormat> format, scheduler::Request request,
                             const GenerationOptions& options, std::string model_name, metrics::ServerMetrics& metrics)
    : format_(std::move(format)),
      request_(std::move(request)),
      stream_(options.stream),
      include_usage_(options.include_usage),
      want_logprobs_(options.params.logprobs >= 0),
      id_(random_id(format_->id_prefix())),
      created_(static_cast<int64_t>(std::time(nullptr))),
      model_name_(std::move(model_name)),
      metrics_(metrics),
      choices_(static_cast<size_t>(options.params.n)) {}

scheduler::Request GenerationJob::take_request() {
  request_metrics_.emplace(metrics_, static_cast<int32_t>(request_.prompt.size()), metrics::Clock::now());
  return std::move(request_);
}

HttpResponse GenerationJob::refusal(const scheduler::SubmitResult& result) {
  if (result.status == scheduler::SubmitStatus::kBusy) {
    auto response = error_response(ApiError(429, "the server is busy: " + result.reason, {}, "rate_limit_exceeded"));
    response.headers.emplace_back("Retry-After", "1");
    return response;
  }
  return error_response(ApiError(400, result.reason));
}

ordered_json GenerationJob::envelope(ordered_json choices) const {
  ordered_json out = {{"id", id_}, {"object", format_->object(stream_)}, {"created", created_}, {"model", model_name_},
                      {"choices", std::move(choices)}};
  // OpenAI marks every chunk of a stream that will end with usage.
  if (stream_ && include_usage_) out["usage"] = nullptr;
  return out;
}

ordered_json GenerationJob::usage_json() const {
  return {{"prompt_tokens", usage_.prompt_tokens},
          {"completion_tokens", usage_.completion_tokens},
          {"total_tokens", usage_.prompt_tokens + usage_.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage_.cached_prompt_tokens}}}};
}

std::string GenerationJob::stream_opening() const {
  std::string out;
  for (auto& choice : format_->opening_choices(static_cast<int32_t>(choices_.size()))) {
    out += sse(envelope(ordered_json::array({std::move(choice)})));
  }
  return out;
}

std::string GenerationJob::on_event(const scheduler::SequenceEvent& event, metrics::Clock::time_point at) {
  request_metrics_->on_event(event, at);
  Choice& c = choices_.at(static_cast<size_t>(event.index));
  c.finish = event.finish;
  c.error = event.error;
  std::string out;
  if (stream_) {
    if (event.finish == FinishReason::kError) {
      out += sse(error_json(ApiError(500, event.error)));
    } else if (!event.text.empty() || !event.logprobs.empty() || event.finish) {
      ordered_json logprobs = want_logprobs_ && !event.logprobs.empty() ? format_->logprobs(event.logprobs, c.text_offset)
                                                                        : ordered_json();
      ordered_json finish = event.finish ? finish_reason_json(*event.finish) : ordered_json();
      out += sse(envelope(ordered_json::array({format_->chunk_choice(event.index, event.text, std::move(logprobs), std::move(finish))})));
    }
  } else {
    c.text += event.text;
    c.logprobs.insert(c.logprobs.end(), event.logprobs.begin(), event.logprobs.end());
  }
  if (event.usage) {
    usage_ = *event.usage;
    finished_ = true;
    if (stream_) {
      if (include_usage_) {
        ordered_json last = envelope(ordered_json::array());
        last["usage"] = usage_json();
        out += sse(last);
      }
      out += "data: [DONE]\n\n";
    }
  }
  return out;
}

HttpResponse GenerationJob::response() const {
  for (const Choice& c : choices_) {
    if (c.finish == FinishReason::kError) return error_response(ApiError(500, "generation failed: " + c.error));
    if (c.finish == FinishReason::kCancelled) return error_response(ApiError(503, "the request was cancelled before it finished"));
  }
  ordered_json choices = ordered_json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    size_t offset = 0;
    ordered_json logprobs = want_logprobs_ ? format_->logprobs(c.logprobs, offset) : ordered_json();
    choices.push_back(format_->final_choice(static_cast<int32_t>(i), c.text, std::move(logprobs),
                                            finish_reason_json(c.finish.value_or(FinishReason::kError))));
  }
  ordered_json body = envelope(std::move(choices));
  body["usage"] = usage_json();
  return json_response(body);
}

}  // namespace strata::http
