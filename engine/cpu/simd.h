// The SIMD level the CPU kernels are compiled for, and small helpers they share.
// STRATA_AVX2 is defined when AVX2, FMA and F16C are all available (x86-64-v3 and later);
// every kernel also has a portable scalar path with the same rounding.
#pragma once

#include <cstdint>

#include "engine/common/half.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define STRATA_AVX2 1
#endif

namespace strata::cpu {

#ifdef STRATA_AVX2
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline __m256 load_fp16x8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
#endif

// fp16 -> float32 for one value, through the hardware conversion when there is one.
inline float fp16_value(uint16_t h) {
#ifdef STRATA_AVX2
  return _cvtsh_ss(h);
#else
  return fp16_to_f32(h);
#endif
}

}  // namespace strata::cpu
