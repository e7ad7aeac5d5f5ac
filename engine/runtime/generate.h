// Generation of one sequence: prefill the prompt, then sample token by token until an
// end-of-generation token, max_tokens, or the context limit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/runtime/loaded_model.h"
#include "engine/sampling/sampler.h"

namespace strata::runtime {

struct GenerationRequest {
  std::vector<int32_t> prompt;        // must not be empty
  sampling::SamplingParams sampling;
  int32_t max_tokens = 256;           // new tokens at most
};

struct GenerationResult {
  std::vector<int32_t> tokens;        // generated ids, the end-of-generation token excluded
  std::string finish_reason;          // "stop" (end-of-generation token) or "length"
};

// on_text receives the text of the generated tokens in order, in complete UTF-8 characters.
GenerationResult generate(LoadedModel& m, const GenerationRequest& request,
                          const std::function<void(std::string_view)>& on_text);

// The prompt of a single user turn (with an optional system turn) in the model's chat
// template, with the generation prompt appended. Throws if the model has no template.
std::string render_chat_prompt(const LoadedModel& m, const std::string& system, const std::string& user);

// Tokenizes a prompt the way llama.cpp does for completion: BOS where the model asks for it;
// with parse_special, special-token text becomes the special token. A BOS the text already
// starts with (e.g. from a chat template) is not doubled.
std::vector<int32_t> tokenize_prompt(const LoadedModel& m, const std::string& text, bool parse_special);

}  // namespace strata::runtime
