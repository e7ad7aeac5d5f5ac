// What a front end submits and what it receives back, one event per step per sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling/sampler.h"

namespace strata::scheduler {

// Defaults follow the OpenAI API where it has the field.
struct GenerationParams {
  sampling::SamplingParams sampling;   // temperature 1, no filters, no penalties, random seed
  int32_t max_tokens = 16;             // new tokens at most per sequence (>= 1)
  int32_t min_tokens = 0;              // end-of-generation and stop tokens are masked until this many
  std::vector<std::string> stop;       // stop strings: generation ends before the first match
  std::vector<int32_t> stop_token_ids; // extra ids that end generation like EOS (not emitted)
  bool ignore_eos = false;             // keep going through end-of-generation tokens
  int32_t n = 1;                       // sequences sampled from one prompt (share its KV blocks)
  int32_t logprobs = -1;               // -1 = none; k >= 0 = the sampled token's logprob and the top k
  int32_t priority = 0;                // lower runs first; FCFS within a priority

  // Empty when valid, else a message naming the first invalid field.
  std::string validate() const;
};

struct Request {
  std::vector<int32_t> prompt;  // token ids, at least one
  GenerationParams params;
};

enum class FinishReason { kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason reason);  // "stop", "length", "cancelled", "error"

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;  // log-softmax of the model's raw logits (before penalties and temperature)
};

struct StepLogprobs {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;  // the k most likely, best first
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;  // over all n sequences
  int32_t cached_prompt_tokens = 0;
  int32_t preemptions = 0;
};

// One sequence's progress in one step. Tokens that end generation (EOS, stop ids) and text of
// stop strings are never in it.
struct SequenceEvent {
  uint64_t request_id = 0;
  int32_t index = 0;                   // which of the n sequences
  std::vector<int32_t> tokens;         // new tokens
  std::string text;                    // new text, whole UTF-8 characters
  std::vector<StepLogprobs> logprobs;  // one per new token when asked
  std::optional<FinishReason> finish;  // set on the sequence's last event
  std::string error;                   // with FinishReason::kError
  std::optional<Usage> usage;          // on the request's very last event
};

// Receives the events of one request, in order, on the engine's thread; must not block.
using EventSink = std::function<void(const SequenceEvent&)>;

}  // namespace strata::scheduler
