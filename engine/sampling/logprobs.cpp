#include "engine/sampling/logprobs.h"

#include <algorithm>
#include <cmath>

namespace strata::sampling {

std::pair<LogprobEntry, std::vector<LogprobEntry>> logprobs(std::span<const float> logits, int32_t chosen, int32_t top) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
  const float log_z = max_logit + static_cast<float>(std::log(sum));
  std::vector<LogprobEntry> best;
  if (top > 0) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    const auto k = std::min<size_t>(static_cast<size_t>(top), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
             (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
    });
    for (size_t i = 0; i < k; ++i) best.push_back({ids[i], logits[static_cast<size_t>(ids[i])] - log_z});
  }
  return {{chosen, logits[static_cast<size_t>(chosen)] - log_z}, std::move(best)};
}

}  // namespace strata::sampling
