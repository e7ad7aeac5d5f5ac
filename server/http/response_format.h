// How an OpenAI endpoint spells its responses. GenerationJob does everything the two
// endpoints share (ids, envelopes, streaming, usage, errors); a ResponseFormat only shapes a
// choice and its logprobs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/tokenizer.h"
#include "scheduler/request.h"

namespace strata::http {

class ResponseFormat {
 public:
  virtual ~ResponseFormat() = default;

  virtual const char* id_prefix() const = 0;               // "cmpl-", "chatcmpl-"
  virtual const char* object(bool streaming) const = 0;  // "text_completion", "chat.completion.chunk", ...
  // Choices a stream opens with before any token (chat: the assistant role).
  virtual std::vector<nlohmann::ordered_json> opening_choices(int32_t n) const = 0;
  // A streamed choice: one sequence's new text and logprobs; finish_reason null until its end.
  virtual nlohmann::ordered_json chunk_choice(int32_t index, const std::string& text, nlohmann::ordered_json logprobs,
                                              nlohmann::ordered_json finish_reason) const = 0;
  // A choice of a complete (non-streamed) response.
  virtual nlohmann::ordered_json final_choice(int32_t index, const std::string& text, nlohmann::ordered_json logprobs,
                                              nlohmann::ordered_json finish_reason) const = 0;
  // The logprobs object for `steps` of one sequence. `text_offset`: bytes of that sequence's
  // text before these steps; advanced past them.
  virtual nlohmann::ordered_json logprobs(std::span<const scheduler::StepLogprobs> steps, size_t& text_offset) const = 0;
};

// /v1/completions and /v1/chat/completions; `tokenizer` must outlive them.
std::unique_ptr<ResponseFormat> completion_format(const tokenizer::Tokenizer& tokenizer);
std::unique_ptr<ResponseFormat> chat_format(const tokenizer::Tokenizer& tokenizer);

// A logprob as JSON: -inf (a token the model rules out) becomes -9999.0, as in OpenAI's API.
double json_logprob(float logprob);

}  // namespace strata::http
