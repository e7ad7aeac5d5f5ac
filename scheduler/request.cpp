#include "scheduler/request.h"

namespace strata::scheduler {

std::string GenerationParams::validate() const {
  if (auto problem = sampling.validate(); !problem.empty()) return problem;
  if (max_tokens < 1) return "max_tokens = " + std::to_string(max_tokens) + " must be at least 1";
  if (min_tokens < 0 || min_tokens > max_tokens) {
    return "min_tokens = " + std::to_string(min_tokens) + " must be in [0, max_tokens]";
  }
  if (n < 1 || n > 128) return "n = " + std::to_string(n) + " must be in [1, 128]";
  if (logprobs < -1 || logprobs > 20) return "logprobs = " + std::to_string(logprobs) + " must be in [0, 20]";
  for (const auto& s : stop) {
    if (s.empty()) return "stop strings must not be empty";
  }
  return {};
}

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "error";
}

}  // namespace strata::scheduler
