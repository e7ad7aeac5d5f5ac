#include "engine/cpu/kquant_dot.h"

#include <array>
#include <cmath>

#include "engine/cpu/quant_dot.h"
#include "engine/cpu/simd.h"

namespace strata::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// Q4_K: d, dmin (fp16), 12 bytes packing a 6-bit scale and min per sub-block of 32, then 128
// bytes of nibbles: byte l of 32-byte chunk c holds element 64c + l (low nibble) and 64c + 32 + l
// (high nibble). w = d * scale * q - dmin * min.

struct Q4KScales {
  static constexpr int kBytes = 144, kScales = 4, kQuants = 16, kSubBlocks = 8;
  int scale[kSubBlocks], min[kSubBlocks];

  explicit Q4KScales(const uint8_t* block) {
    const uint8_t* s = block + kScales;
    for (int j = 0; j < 4; ++j) {
      scale[j] = s[j] & 63;
      min[j] = s[j + 4] & 63;
      scale[j + 4] = (s[j + 8] & 0x0f) | (s[j] >> 6) << 4;
      min[j + 4] = (s[j + 8] >> 4) | (s[j + 4] >> 6) << 4;
    }
  }
  // sum over sub-blocks of min * (sum of x's quants there)
  int min_sum(const BlockQ8K& x) const {
    int sum = 0;
    for (int j = 0; j < kSubBlocks; ++j) sum += min[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
    return sum;
  }
};

// sum over sub-blocks of scale * sum(q * x), read from the packed nibbles.
struct Q4KPacked {
  const uint8_t* quants;
  const Q4KScales& scales;
  Q4KPacked(const uint8_t* block, const Q4KScales& s) : quants(block + Q4KScales::kQuants), scales(s) {}
  int scaled_sum(const BlockQ8K& x) const {
    int sum = 0;
    for (int c = 0; c < 4; ++c) {
      int low = 0, high = 0;
      for (int l = 0; l < 32; ++l) {
        low += (quants[32 * c + l] & 0x0f) * x.qs[64 * c + l];
        high += (quants[32 * c + l] >> 4) * x.qs[64 * c + 32 + l];
      }
      sum += scales.scale[2 * c] * low + scales.scale[2 * c + 1] * high;
    }
    return sum;
  }
};

#ifdef STRATA_AVX2
// The same sum from the block unpacked once into 8 x 32 quants and their scales.
struct Q4KUnpacked {
  __m256i q[8], scale[8];
  Q4KUnpacked(const uint8_t* block, const Q4KScales& s) {
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = load_bytes32(block + Q4KScales::kQuants + 32 * c);
      q[2 * c] = low_nibbles(raw);
      q[2 * c + 1] = high_nibbles(raw);
    }
    for (int j = 0; j < 8; ++j) scale[j] = _mm256_set1_epi16(static_cast<int16_t>(s.scale[j]));
  }
  int scaled_sum(const BlockQ8K& x) const {
    __m256i sum = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) sum = _mm256_add_epi32(sum, dot_u8_i8_weighted(q[j], load_bytes32(x.qs + 32 * j), scale[j]));
    return hsum_i32(sum);
  }
};
#endif

// llama.cpp's float steps for a Q4_K row (one lane of its repacked kernels).
struct Q4KSums {
  float sum = 0.0f, mins = 0.0f;
  void add(int scaled_sum, int min_sum, float d, float dmin, float dx) {
    sum = std::fma(static_cast<float>(scaled_sum), d * dx, sum);
    mins = std::fma(static_cast<float>(min_sum), dmin * dx, mins);
  }
  float value() const { return sum - mins; }
};

template <typename Weights, int N>
void q4_k_rows(const uint8_t* w, const BlockQ8K* const* x, int64_t n_blocks, float* out) {
  Q4KSums sums[N];
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* block = w + b * Q4KScales::kBytes;
    const Q4KScales scales(block);
    const Weights weights(block, scales);
    const float d = fp16_at(block), dmin = fp16_at(block + 2);
    for (int n = 0; n < N; ++n) {
      const BlockQ8K& xb = x[n][b];
      sums[n].add(weights.scaled_sum(xb), scales.min_sum(xb), d, dmin, xb.d);
    }
  }
  for (int n = 0; n < N; ++n) out[n] = sums[n].value();
}

// ---------------------------------------------------------------------------------------------
// Q6_K: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales (one per 16
// elements), d (fp16); w = d * scale * (q - 32). Chunk t (32 elements) of half h = t / 4,
// k = t % 4: low nibble (k < 2) or high nibble of ql[64h + 32(k & 1) + l], high bits
// (qh[32h + l] >> 2k) & 3.

constexpr int kQ6KBytes = 210, kQ6KHigh = 128, kQ6KScales = 192, kQ6KD = 208;

int q6_k_value(const uint8_t* block, int t, int l) {
  const int h = t / 4, k = t % 4;
  const uint8_t low = block[64 * h + 32 * (k & 1) + l];
  const int nibble = k < 2 ? low & 0x0f : low >> 4;
  return (nibble | ((block[kQ6KHigh + 32 * h + l] >> (2 * k)) & 3) << 4) - 32;
}

int q6_k_scale(const uint8_t* block, int index) { return static_cast<int8_t>(block[kQ6KScales + index]); }

// Both paths add lane k's integer sum (elements 4k..4k+3 of every chunk, scaled) into float
// lane k, then fold the 8 lanes as hsum() does.
struct Q6KPacked {
  using Lanes = std::array<float, 8>;
  const uint8_t* block;
  explicit Q6KPacked(const uint8_t* b) : block(b) {}
  void accumulate(Lanes& acc, float d, const BlockQ8K& x) const {
    int lane[8] = {};
    for (int t = 0; t < 8; ++t) {
      for (int l = 0; l < 32; ++l) lane[l / 4] += q6_k_scale(block, 2 * t + l / 16) * q6_k_value(block, t, l) * x.qs[32 * t + l];
    }
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(d, static_cast<float>(lane[k]), acc[k]);
  }
  static float total(const Lanes& a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }
};

#ifdef STRATA_AVX2
struct Q6KUnpacked {
  using Lanes = __m256;
  __m256i q[8], q_abs[8], scale[8];  // q - 32 as int8, its magnitude, the two scales of each chunk
  explicit Q6KUnpacked(const uint8_t* block) {
    for (int t = 0; t < 8; ++t) {
      const int h = t / 4, k = t % 4;
      const __m256i low = load_bytes32(block + 64 * h + 32 * (k & 1));
      const __m256i nibble = k < 2 ? low_nibbles(low) : high_nibbles(low);
      const __m256i high = _mm256_and_si256(_mm256_srli_epi16(load_bytes32(block + kQ6KHigh + 32 * h), 2 * k), _mm256_set1_epi8(3));
      q[t] = _mm256_sub_epi8(_mm256_or_si256(nibble, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32));
      q_abs[t] = _mm256_sign_epi8(q[t], q[t]);
      scale[t] = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(q6_k_scale(block, 2 * t + 1))),
                                  _mm_set1_epi16(static_cast<int16_t>(q6_k_scale(block, 2 * t))));
    }
  }
  void accumulate(Lanes& acc, float d, const BlockQ8K& x) const {
    __m256i lanes = _mm256_setzero_si256();
    for (int t = 0; t < 8; ++t) {
      const __m256i xq = _mm256_sign_epi8(load_bytes32(x.qs + 32 * t), q[t]);
      lanes = _mm256_add_epi32(lanes, dot_u8_i8_weighted(q_abs[t], xq, scale[t]));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
  }
  static float total(Lanes acc) { return hsum(acc); }
};
#endif

template <typename Weights, int N>
void q6_k_rows(const uint8_t* w, const BlockQ8K* const* x, int64_t n_blocks, float* out) {
  typename Weights::Lanes acc[N] = {};
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* block = w + b * kQ6KBytes;
    const Weights weights(block);
    const float d = fp16_at(block + kQ6KD);
    for (int n = 0; n < N; ++n) weights.accumulate(acc[n], x[n][b].d * d, x[n][b]);
  }
  for (int n = 0; n < N; ++n) out[n] = Weights::total(acc[n]);
}

#ifdef STRATA_AVX2
using Q4KWeights = Q4KUnpacked;
using Q6KWeights = Q6KUnpacked;
#else
using Q4KWeights = Q4KPacked;
using Q6KWeights = Q6KPacked;
#endif

}  // namespace

void dot_q4_k_q8_k_rows(const uint8_t* w, const BlockQ8K* const* x, int n_rows, int64_t n_blocks, float* out) {
  with_row_count(n_rows, [&]<int N>() { q4_k_rows<Q4KWeights, N>(w, x, n_blocks, out); });
}

void dot_q6_k_q8_k_rows(const uint8_t* w, const BlockQ8K* const* x, int n_rows, int64_t n_blocks, float* out) {
  with_row_count(n_rows, [&]<int N>() { q6_k_rows<Q6KWeights, N>(w, x, n_blocks, out); });
}

namespace scalar {

float dot_q4_k_q8_k(const uint8_t* w, const BlockQ8K* x, int64_t n_blocks) {
  float out;
  q4_k_rows<Q4KPacked, 1>(w, &x, n_blocks, &out);
  return out;
}

float dot_q6_k_q8_k(const uint8_t* w, const BlockQ8K* x, int64_t n_blocks) {
  float out;
  q6_k_rows<Q6KPacked, 1>(w, &x, n_blocks, &out);
  return out;
}

}  // namespace scalar
}  // namespace strata::cpu
