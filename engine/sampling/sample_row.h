// One pick of a token from one row of logits, with everything the pick depends on spelled out
// so any device can make it: the host reference here, the CUDA kernel in engine/cuda. Both
// follow the same definition (sampling_math.h):
//   1. logits adjusted per token (bias, penalties, bans);
//   2. temperature 0: the argmax (ties: the lower id);
//   3. else candidates in (logit desc, id asc) order: the first top_k; then the shortest prefix
//      whose mass reaches top_p of theirs; then those with probability >= min_p x the best's;
//   4. one counter-based draw (seed, draw) over the kept mass, walked in id order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampling/logprobs.h"
#include "engine/sampling/sampling_math.h"

namespace strata::sampling {

struct SamplingRow {
  int32_t logits_row = 0;  // which row of the step's logits (siblings may share one)
  float temperature = 1.0f;
  int32_t top_k = 0;       // 0 = all
  float top_p = 1.0f;
  float min_p = 0.0f;
  Penalties penalties;
  uint64_t seed = 0;
  uint64_t draw = 0;       // which number of the seed's stream this pick uses
  int32_t top_logprobs = -1;  // -1: no logprobs; else the chosen token's and this many best
  std::vector<TokenAdjustment> adjustments;  // at most one per token
};

struct SampledToken {
  int32_t token = 0;
  LogprobEntry chosen{0, 0.0f};    // when logprobs were asked for
  std::vector<LogprobEntry> top;   // best first, ties: lower id
};

// Picks from `raw` (one row of logits, left unchanged) as `row` says; `work` is scratch.
// Throws std::out_of_range for an adjustment outside the row.
SampledToken sample_row(std::span<const float> raw, const SamplingRow& row, std::vector<float>& work);

// sample_row for each row, from `logits` ([rows x vocab]).
std::vector<SampledToken> sample_rows(std::span<const float> logits, size_t vocab, std::span<const SamplingRow> rows);

}  // namespace strata::sampling
