// The arithmetic of picking a token that the host reference (sample_row.cpp) and the CUDA kernel
// (engine/cuda/kernels/sampling.cuh) share, so both pick the same token from the same logits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine/common/mix64.h"

namespace strata::sampling {

// One token's edits for one pick: logit_bias, penalties, or a ban (min_tokens hides the end).
struct TokenAdjustment {
  int32_t token = 0;
  float bias = 0.0f;        // added first
  bool seen = false;        // in the prompt or generated: the repetition penalty applies
  int32_t generated = 0;    // times generated: presence and frequency penalties apply
  bool banned = false;      // -inf whatever else
};

struct Penalties {
  float repetition = 1.0f, presence = 0.0f, frequency = 0.0f;
};

// a * b rounded on its own: neither compiler may fuse it into a following add.
STRATA_HOST_DEVICE inline float rounded_product(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  volatile float product = a * b;
  return product;
#endif
}

// The logit after `a` (the order OpenAI and vLLM use: bias, repetition, presence/frequency).
STRATA_HOST_DEVICE inline float adjusted_logit(float logit, const TokenAdjustment& a, const Penalties& p) {
  if (a.banned) return -INFINITY;
  float v = logit + a.bias;
  if (a.seen && p.repetition != 1.0f) v = v > 0.0f ? v / p.repetition : rounded_product(v, p.repetition);
  if (a.generated > 0 && (p.presence != 0.0f || p.frequency != 0.0f)) {
    v -= p.presence + rounded_product(p.frequency, static_cast<float>(a.generated));
  }
  return v;
}

// A total order on candidates as one integer: larger logit first, then lower id.
STRATA_HOST_DEVICE inline uint64_t candidate_key(float logit, int32_t id) {
#ifdef __CUDA_ARCH__
  const uint32_t bits = __float_as_uint(logit);
#else
  uint32_t bits;
  std::memcpy(&bits, &logit, sizeof(bits));
#endif
  const uint32_t ordered = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return (static_cast<uint64_t>(ordered) << 32) | (0xffffffffu - static_cast<uint32_t>(id));
}

// Probability mass relative to the best candidate, exp((logit - best) / T) in [0, 1], as an
// integer of 2^40 units: sums are exact and independent of their order.
constexpr int kMassBits = 40;
STRATA_HOST_DEVICE inline double relative_probability(float logit, float best, float temperature) {
  return exp((static_cast<double>(logit) - static_cast<double>(best)) / static_cast<double>(temperature));
}
STRATA_HOST_DEVICE inline uint64_t mass_units(double probability) {
  return static_cast<uint64_t>(probability * static_cast<double>(uint64_t{1} << kMassBits));
}

// The draw-th uniform number of stream `seed`, scaled to [0, total): counter-based, so a pick
// depends on (seed, draw) only, not on what ran before it or where.
STRATA_HOST_DEVICE inline uint64_t draw_below(uint64_t seed, uint64_t draw, uint64_t total) {
  const uint64_t u53 = mix64(seed ^ mix64(draw + 0x9e3779b97f4a7c15ull)) >> 11;
  const uint64_t a = u53 << 11;  // floor(a * total / 2^64): the high half of the product
#ifdef __CUDA_ARCH__
  return __umul64hi(a, total);
#else
  const uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = total & 0xffffffffu, b_hi = total >> 32;
  const uint64_t lo_lo = a_lo * b_lo, lo_hi = a_lo * b_hi, hi_lo = a_hi * b_lo;
  const uint64_t middle = (lo_lo >> 32) + (lo_hi & 0xffffffffu) + (hi_lo & 0xffffffffu);
  return a_hi * b_hi + (lo_hi >> 32) + (hi_lo >> 32) + (middle >> 32);
#endif
}

}  // namespace strata::sampling
