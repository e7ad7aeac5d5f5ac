// Helpers of the tests that run real models on whole sequences: random token ids, bit-exact
// comparison of logits, and one sequence fed alone in chunks (the reference of batched paths).
#pragma once

#include <algorithm>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "engine/model/cpu_model_runner.h"
#include "engine/runtime/solo_sequence.h"

namespace strata::test {

inline std::vector<int32_t> random_tokens(std::mt19937& rng, size_t n, int32_t vocab) {
  std::uniform_int_distribution<int32_t> any(0, vocab - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = any(rng);
  return out;
}

inline bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// One sequence alone in chunks, pages never released (SoloSequence): the logits `wanted` of each chunk.
inline std::vector<float> logits_alone(model::DecoderModel& m, std::span<const int32_t> tokens, size_t chunk,
                                       model::LogitsWanted wanted = model::LogitsWanted::kAll) {
  runtime::SoloSequence alone(model::cpu_runner_factory(m), static_cast<int32_t>(tokens.size()),
                              m.attention_plan().group_kinds());
  std::vector<float> out;
  for (size_t at = 0; at < tokens.size(); at += chunk) {
    const auto piece = alone.feed(tokens.subspan(at, std::min(chunk, tokens.size() - at)), wanted);
    out.insert(out.end(), piece.begin(), piece.end());
  }
  return out;
}

}  // namespace strata::test
