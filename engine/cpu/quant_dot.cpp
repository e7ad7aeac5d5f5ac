#include "engine/cpu/quant_dot.h"

#include <cmath>
#include <cstring>

#include "engine/common/half.h"
#include "engine/cpu/simd.h"

namespace strata::cpu {
namespace {

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_value(h);
}

float round_to_fp16(float x) { return fp16_to_f32(f32_to_fp16(x)); }

#ifdef STRATA_AVX2
// 16 bytes of packed nibbles -> 32 bytes: elements 0..15 (low nibbles), then 16..31 (high).
__m256i unpack_nibbles(const uint8_t* qs) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Sum of products of unsigned bytes u and signed bytes s, as 8 float lanes.
__m256 dot_u8_i8(__m256i u, __m256i s) {
  __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Signed x signed via the sign trick: |a| * (b with a's sign).
__m256 dot_i8_i8(__m256i a, __m256i b) { return dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)); }

__m256i load_qs(const BlockQ8& x) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs)); }
#endif

}  // namespace

void quantize_row_q8(const float* x, BlockQ8* y, int64_t n) {
  for (int64_t b = 0; b < n / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0.0f;
    for (int j = 0; j < kQ8Block; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    float d = amax / 127.0f;
    float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      int q = static_cast<int>(std::nearbyint(xb[j] * inv));
      y[b].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
    y[b].d = round_to_fp16(d);
    y[b].s = round_to_fp16(d * static_cast<float>(sum));
  }
}

float dot_q4_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) {
  constexpr int kBytes = 18;
#ifdef STRATA_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * kBytes;
    __m256i q = _mm256_sub_epi8(unpack_nibbles(wb + 2), _mm256_set1_epi8(8));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(wb) * x[b].d), dot_i8_i8(q, load_qs(x[b])), acc);
  }
  return hsum(acc);
#else
  float sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * kBytes;
    const uint8_t* qs = wb + 2;
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((qs[j] & 0x0f) - 8) * x[b].qs[j] + ((qs[j] >> 4) - 8) * x[b].qs[j + 16];
    }
    sum += half_at(wb) * x[b].d * static_cast<float>(isum);
  }
  return sum;
#endif
}

float dot_q4_1_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) {
  constexpr int kBytes = 20;
  float offset_sum = 0.0f;  // sum over blocks of m * d_x * sum(q_x)
#ifdef STRATA_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * kBytes;
    offset_sum += half_at(wb + 2) * x[b].s;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(wb) * x[b].d), dot_u8_i8(unpack_nibbles(wb + 4), load_qs(x[b])), acc);
  }
  return hsum(acc) + offset_sum;
#else
  float sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * kBytes;
    const uint8_t* qs = wb + 4;
    int isum = 0;
    for (int j = 0; j < 16; ++j) isum += (qs[j] & 0x0f) * x[b].qs[j] + (qs[j] >> 4) * x[b].qs[j + 16];
    sum += half_at(wb) * x[b].d * static_cast<float>(isum);
    offset_sum += half_at(wb + 2) * x[b].s;
  }
  return sum + offset_sum;
#endif
}

float dot_q8_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) {
  constexpr int kBytes = 34;
#ifdef STRATA_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * kBytes;
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(wb) * x[b].d), dot_i8_i8(q, load_qs(x[b])), acc);
  }
  return hsum(acc);
#else
  float sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * kBytes;
    const auto* qs = reinterpret_cast<const int8_t*>(wb + 2);
    int isum = 0;
    for (int j = 0; j < kQ8Block; ++j) isum += qs[j] * x[b].qs[j];
    sum += half_at(wb) * x[b].d * static_cast<float>(isum);
  }
  return sum;
#endif
}

float dot_f32(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef STRATA_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  sum = hsum(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f16_f32(const uint16_t* a, const float* b, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef STRATA_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    acc = _mm256_fmadd_ps(load_fp16x8(a + i), _mm256_loadu_ps(b + i), acc);
  }
  sum = hsum(acc);
#endif
  for (; i < n; ++i) sum += fp16_to_f32(a[i]) * b[i];
  return sum;
}

}  // namespace strata::cpu
