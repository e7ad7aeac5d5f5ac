// The SIMD level the CPU kernels are compiled for, and small helpers they share.
// STRATA_AVX2 is defined when AVX2, FMA and F16C are all available (x86-64-v3 and later);
// every kernel also has a portable scalar path with the same rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

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

inline __m256i load_bytes32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The low and the high nibble of each byte, as bytes 0..15.
inline __m256i low_nibbles(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0f)); }
inline __m256i high_nibbles(__m256i v) { return low_nibbles(_mm256_srli_epi16(v, 4)); }

// Products of unsigned bytes u and signed bytes s, summed in groups of four adjacent bytes, each
// group's 16-bit pair sums weighted by the int16 lanes of `weights` (1 for a plain sum; a block
// scale for K-quants): 8 int32 lanes. Exact while each pair sum fits int16 (|u| * |s| * 2 <= 32767).
inline __m256i dot_u8_i8_weighted(__m256i u, __m256i s, __m256i weights) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), weights);
}

// exp(x) for the softmax's x <= 0, within 2 ulp of std::exp (Cephes' range reduction by ln 2
// and degree-5 polynomial); x <= -88 (a masked key's -inf among them) gives exactly 0.
inline __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  // 2^n through the exponent field: n = -127 (x <= -88) makes a zero scale.
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

inline int32_t hsum_i32(__m256i v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 1));
  return _mm_cvtsi128_si32(x);
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

// x rounded to the nearest fp16 value (ties to even), as float32; the hardware conversion rounds
// as f32_to_fp16 does.
inline float round_to_fp16(float x) {
#ifdef STRATA_AVX2
  return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
#else
  return fp16_to_f32(f32_to_fp16(x));
#endif
}

// exp_nonpositive for one value: the vector routine's operations in scalar form (fused
// multiply-adds and rounding alike), so the scalar build keeps the same formula.
inline float exp_nonpositive(float x) {
#ifdef STRATA_AVX2
  return _mm256_cvtss_f32(exp_nonpositive(_mm256_set1_ps(x)));
#else
  x = std::fmax(x, -88.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = std::fma(-n, 0.693359375f, x);
  r = std::fma(-n, -2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  for (const float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f}) {
    p = std::fma(p, r, c);
  }
  const float y = std::fma(p * r, r, r) + 1.0f;
  return n <= -127.0f ? 0.0f : std::ldexp(y, static_cast<int>(n));
#endif
}

// The fp16 value stored (unaligned) at p, as float32.
inline float fp16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_value(h);
}

}  // namespace strata::cpu
