#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace strata::sampling {

std::string SamplingParams::validate() const {
  auto bad = [](const char* field, float value, const char* range) {
    return std::string(field) + " = " + std::to_string(value) + " is out of range " + range;
  };
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) return bad("temperature", temperature, "[0, inf)");
  if (top_k < 0) return "top_k = " + std::to_string(top_k) + " must be >= 0";
  if (!(top_p > 0.0f && top_p <= 1.0f)) return bad("top_p", top_p, "(0, 1]");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return bad("min_p", min_p, "[0, 1]");
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) {
    return bad("repetition_penalty", repetition_penalty, "(0, inf)");
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) return bad("presence_penalty", presence_penalty, "[-2, 2]");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    return bad("frequency_penalty", frequency_penalty, "[-2, 2]");
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0) return "logit_bias token id " + std::to_string(token) + " must be >= 0";
    if (!(bias >= -100.0f && bias <= 100.0f)) return bad("logit_bias", bias, "[-100, 100]");
  }
  return {};
}

Sampler::Sampler(const SamplingParams& params, std::span<const int32_t> prompt)
    : params_(params), rng_(params.seed ? *params.seed : std::random_device{}()) {
  for (int32_t t : prompt) seen_[t] = true;
}

void Sampler::apply_bias_and_penalties(std::span<float> logits) const {
  auto check = [&](int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size()) {
      throw std::out_of_range("sampler: token id " + std::to_string(token) + " is outside the vocabulary");
    }
  };
  for (const auto& [token, unused] : seen_) check(token);
  for (const auto& [token, bias] : params_.logit_bias) {
    check(token);
    logits[static_cast<size_t>(token)] += bias;
  }
  if (params_.repetition_penalty != 1.0f) {
    for (const auto& [token, unused] : seen_) {
      float& l = logits[static_cast<size_t>(token)];
      l = l > 0.0f ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (const auto& [token, count] : generated_counts_) {
      logits[static_cast<size_t>(token)] -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
    }
  }
}

void Sampler::accept(int32_t token) {
  ++generated_counts_[token];
  seen_[token] = true;
}

int32_t Sampler::sample(std::span<float> logits) {
  apply_bias_and_penalties(logits);
  if (params_.temperature == 0.0f) {
    auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    accept(best);
    return best;
  }
  // Candidates sorted by logit, best first; filters only ever cut the tail.
  candidates_.clear();
  // In double: a tiny temperature would overflow float to inf.
  for (size_t i = 0; i < logits.size(); ++i) {
    candidates_.emplace_back(static_cast<double>(logits[i]) / params_.temperature, static_cast<int32_t>(i));
  }
  size_t keep = candidates_.size();
  if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  candidates_.resize(keep);

  const double max_logit = candidates_.front().first;
  std::vector<double> probs(keep);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += probs[i] = std::exp(candidates_[i].first - max_logit);
  for (auto& p : probs) p /= total;

  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i];
      if (cumulative >= params_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
  }
  if (params_.min_p > 0.0f) {
    const double threshold = params_.min_p * probs.front();
    size_t cut = 1;
    while (cut < keep && probs[cut] >= threshold) ++cut;
    keep = cut;
  }
  std::discrete_distribution<size_t> pick(probs.begin(), probs.begin() + static_cast<std::ptrdiff_t>(keep));
  int32_t token = candidates_[pick(rng_)].second;
  accept(token);
  return token;
}

}  // namespace strata::sampling
