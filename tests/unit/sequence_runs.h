// Helpers of the tests that run real models on whole sequences: layouts from JSON text, random
// token ids, bit-exact comparison of logits, and one sequence fed alone in chunks (the reference
// of batched paths).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/attention/attention_layout.h"
#include "engine/model/cpu_model_runner.h"
#include "engine/runtime/solo_sequence.h"

namespace strata::test {

// A layout from JSON text, as the file "test" in the working directory.
inline attention::AttentionLayout layout(const std::string& json) {
  return attention::AttentionLayout::from_json(nlohmann::json::parse(json), "layout 'test'", ".");
}

inline std::vector<int32_t> random_tokens(std::mt19937& rng, size_t n, int32_t vocab) {
  std::uniform_int_distribution<int32_t> any(0, vocab - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = any(rng);
  return out;
}

inline bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// One sequence alone, pages never released (SoloSequence): its first `prompt` tokens (all by
// default) the prompt, in chunks of `chunk`, then one token per step; the logits `wanted` of
// each step.
inline std::vector<float> logits_alone(model::DecoderModel& m, std::span<const int32_t> tokens, size_t chunk,
                                       model::LogitsWanted wanted = model::LogitsWanted::kAll,
                                       size_t prompt = SIZE_MAX) {
  runtime::SoloSequence alone(model::cpu_runner_factory(m), static_cast<int32_t>(tokens.size()),
                              m.attention_plan().group_kinds());
  prompt = std::min(prompt, tokens.size());
  alone.set_prompt_tokens(static_cast<int32_t>(prompt));
  std::vector<float> out;
  for (size_t at = 0; at < tokens.size();) {
    const size_t n = at < prompt ? std::min(chunk, prompt - at) : 1;
    const auto piece = alone.feed(tokens.subspan(at, n), wanted);
    out.insert(out.end(), piece.begin(), piece.end());
    at += n;
  }
  return out;
}

}  // namespace strata::test
