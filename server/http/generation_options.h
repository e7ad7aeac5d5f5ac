// The OpenAI request fields that drive generation, read once for both /v1/completions and
// /v1/chat/completions into the scheduler's GenerationParams.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "scheduler/request.h"
#include "server/http/request_fields.h"

namespace strata::http {

enum class Endpoint { kCompletions, kChatCompletions };

struct GenerationOptions {
  scheduler::GenerationParams params;  // max_tokens is decided by fit_to_context()
  std::optional<int32_t> max_tokens;   // as the client asked
  std::string max_tokens_field;        // the field it came from, for error messages
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
};

// Reads max_tokens / max_completion_tokens, temperature, top_p, top_k, min_p, n, stop, seed,
// the three penalties, logprobs / top_logprobs, logit_bias, stream, stream_options, ignore_eos,
// min_tokens, priority and user. Throws ApiError 400 naming the first bad field.
GenerationOptions parse_generation_options(const RequestFields& fields, Endpoint endpoint, int32_t vocab_size);

// Once the prompt is tokenized: sets params.max_tokens (when not asked: 16 for completions as
// in OpenAI's API, the rest of the context for chat; both capped by what the context and the
// KV cache can hold) and checks the prompt, max_tokens and min_tokens against the context.
// Throws ApiError 400; `prompt_field` names the prompt in errors ("prompt" or "messages").
void fit_to_context(GenerationOptions& options, Endpoint endpoint, int32_t prompt_tokens, int32_t context_length,
                    int64_t kv_capacity_tokens, const std::string& prompt_field);

}  // namespace strata::http
