// Token sampling from logits: logit bias, penalties, temperature, top-k, top-p, min-p, seeded.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

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

class Sampler {
 public:
  // prompt: the tokens the repetition penalty also covers.
  Sampler(const SamplingParams& params, std::span<const int32_t> prompt);

  // Picks the next token from `logits` (modified in place by the bias and the penalties) and
  // records it as generated. Throws std::out_of_range when a prompt or logit_bias id lies
  // outside `logits`.
  int32_t sample(std::span<float> logits);

 private:
  void apply_bias_and_penalties(std::span<float> logits) const;
  void accept(int32_t token);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int32_t> generated_counts_;
  std::unordered_map<int32_t, bool> seen_;  // prompt or generated, for the repetition penalty
  std::vector<std::pair<double, int32_t>> candidates_;  // (logit / temperature, token)
};

}  // namespace strata::sampling
