// Log-probabilities of the model's raw distribution at one step.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace strata::sampling {

struct LogprobEntry {
  int32_t token;
  float logprob;
};

// log softmax(logits)[chosen], and the `top` most likely tokens best first (ties: lower id).
std::pair<LogprobEntry, std::vector<LogprobEntry>> logprobs(std::span<const float> logits, int32_t chosen, int32_t top);

}  // namespace strata::sampling
