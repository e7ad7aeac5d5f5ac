#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <random>
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
    : params_(params), seed_(params.seed ? *params.seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {
  seen_.insert(prompt.begin(), prompt.end());
}

SamplingRow Sampler::next_row(int32_t logits_row, std::span<const int32_t> banned, int32_t top_logprobs) const {
  SamplingRow row;
  row.logits_row = logits_row;
  row.temperature = params_.temperature;
  row.top_k = params_.top_k;
  row.top_p = params_.top_p;
  row.min_p = params_.min_p;
  row.penalties = {params_.repetition_penalty, params_.presence_penalty, params_.frequency_penalty};
  row.seed = seed_;
  row.draw = draws_;
  row.top_logprobs = top_logprobs;
  // Only the tokens whose logit changes: one entry each.
  std::map<int32_t, TokenAdjustment> edits;
  auto edit = [&](int32_t token) -> TokenAdjustment& {
    auto& a = edits[token];
    a.token = token;
    return a;
  };
  for (const auto& [token, bias] : params_.logit_bias) edit(token).bias = bias;
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t token : seen_) edit(token).seen = true;
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (const auto& [token, count] : generated_counts_) edit(token).generated = count;
  }
  for (int32_t token : banned) edit(token).banned = true;
  row.adjustments.reserve(edits.size());
  for (const auto& [token, a] : edits) row.adjustments.push_back(a);
  return row;
}

void Sampler::accept(int32_t token) {
  ++generated_counts_[token];
  seen_.insert(token);
  ++draws_;
}

int32_t Sampler::sample(std::span<float> logits) {
  const SamplingRow row = next_row(0, {}, -1);
  const int32_t token = sample_row(logits, row, work_).token;
  std::copy(work_.begin(), work_.end(), logits.begin());
  accept(token);
  return token;
}

}  // namespace strata::sampling
