// What the GPU sampler reads and writes per row (plain structs shared by the host side and the
// kernel): one row's parameters, with its token adjustments as a range of a shared array.
#pragma once

#include <cstdint>

#include "engine/sampling/sampling_math.h"

namespace strata::cuda {

constexpr int kMaxTopLogprobs = 20;

struct SampleRowArgs {
  int32_t logits_row;
  float temperature;
  int32_t top_k;
  float top_p, min_p;
  sampling::Penalties penalties;
  uint64_t seed, draw;
  int32_t top_logprobs;  // -1: none
  int32_t adjust_begin, adjust_count;
};

struct SampledOut {
  int32_t token;
  float chosen_logprob;
  int32_t top_ids[kMaxTopLogprobs];
  float top_logprobs[kMaxTopLogprobs];
};

}  // namespace strata::cuda
