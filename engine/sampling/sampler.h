// Sampling parameters (OpenAI semantics) and the per-sequence sampler state.
#pragma once

#include <cstdint>
#include <optional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/sampling/sample_row.h"

namespace strata::sampling {

// Field defaults are the neutral values (OpenAI API semantics): a default-constructed
// SamplingParams with temperature 0 is plain greedy decoding.
struct SamplingParams {
  float temperature = 1.0f;         // 0 = greedy (argmax after penalties); must be >= 0
  int32_t top_k = 0;                // keep the k most likely tokens; 0 = all
  float top_p = 1.0f;               // nucleus: smallest set with cumulative probability >= top_p; (0, 1]
  float min_p = 0.0f;               // drop tokens below min_p * max probability; [0, 1]
  float repetition_penalty = 1.0f;  // > 0; divides positive / multiplies negative logits of seen tokens (prompt and output)
  float presence_penalty = 0.0f;    // [-2, 2]; subtracted once from logits of tokens already generated
  float frequency_penalty = 0.0f;   // [-2, 2]; subtracted per occurrence in the generated tokens
  // Added to the logits of these token ids before the penalties (OpenAI's logit_bias); each
  // bias in [-100, 100]. An id outside the vocabulary makes sample() throw std::out_of_range,
  // so front ends check ids against the vocabulary before submitting.
  std::unordered_map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;     // fixes the random stream; unset = nondeterministic

  // Empty when valid, else a message naming the first invalid field and its allowed range.
  std::string validate() const;
};

// One sequence's sampling state: its parameters, the tokens the penalties cover, and how many
// numbers of its random stream it has used. It describes each pick as a SamplingRow, which the
// runner makes on its device (sample_row.h), and records the token picked.
class Sampler {
 public:
  // prompt: the tokens the repetition penalty also covers.
  Sampler(const SamplingParams& params, std::span<const int32_t> prompt);

  // The next pick from row `logits_row` of a step's logits, with `banned` tokens hidden and
  // top_logprobs as SamplingRow::top_logprobs.
  SamplingRow next_row(int32_t logits_row, std::span<const int32_t> banned, int32_t top_logprobs) const;
  // Records the token picked by next_row()'s row: penalties, and the stream moves on.
  void accept(int32_t token);

  // next_row() picked on the host from `logits`, which is left holding the adjusted logits, then
  // accept(). Throws std::out_of_range when an id it adjusts (logit_bias, a penalized prompt
  // token) lies outside `logits`.
  int32_t sample(std::span<float> logits);

 private:
  SamplingParams params_;
  uint64_t seed_;
  uint64_t draws_ = 0;
  std::map<int32_t, int32_t> generated_counts_;
  std::set<int32_t> seen_;  // prompt or generated, for the repetition penalty
  std::vector<float> work_;
};

}  // namespace strata::sampling
