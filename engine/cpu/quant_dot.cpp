#include "engine/cpu/quant_dot.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/common/half.h"
#include "engine/cpu/simd.h"

namespace strata::cpu {
namespace {

#ifdef STRATA_AVX2
// 16 bytes of packed nibbles -> 32 bytes: elements 0..15 (low nibbles), then 16..31 (high).
__m256i unpack_nibbles(const uint8_t* qs) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return low_nibbles(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw));
}

// Sum of products of unsigned bytes u and signed bytes s, as 8 float lanes.
__m256 dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_cvtepi32_ps(dot_u8_i8_weighted(u, s, _mm256_set1_epi16(1)));
}

__m256i load_qs(const BlockQ8& x) { return load_bytes32(x.qs); }

// 0xFF in byte e of the result where bit e of the 32 bits at p is set, else 0.
__m256i bytes_from_bits(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  const __m256i byte_of_bit = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), byte_of_bit);
  const __m256i bit_in_byte = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_in_byte), bit_in_byte);
}
#endif


// The weight layouts the quantized dot products read. unpack() gives the block's 32
// quantized values in element order; kSigned says whether they are int8 (else uint8 0..15);
// kHasOffset whether the block adds m (Q4_1: w = d*q + m).
struct Q4_0Layout {
  static constexpr int kBytes = 18, kQuants = 2;
  static constexpr bool kSigned = true, kHasOffset = false;
#ifdef STRATA_AVX2
  static __m256i unpack(const uint8_t* b) { return _mm256_sub_epi8(unpack_nibbles(b + kQuants), _mm256_set1_epi8(8)); }
#endif
  static int value(const uint8_t* b, int j) { return (j < 16 ? b[kQuants + j] & 0x0f : b[kQuants + j - 16] >> 4) - 8; }
};
struct Q4_1Layout {
  static constexpr int kBytes = 20, kQuants = 4;
  static constexpr bool kSigned = false, kHasOffset = true;
#ifdef STRATA_AVX2
  static __m256i unpack(const uint8_t* b) { return unpack_nibbles(b + kQuants); }
#endif
  static int value(const uint8_t* b, int j) { return j < 16 ? b[kQuants + j] & 0x0f : b[kQuants + j - 16] >> 4; }
};
struct Q5_0Layout {  // d, 32 high bits, then 16 bytes of low nibbles; w = d * (q - 16)
  static constexpr int kBytes = 22, kHighBits = 2, kQuants = 6;
  static constexpr bool kSigned = true, kHasOffset = false;
#ifdef STRATA_AVX2
  // (nibble | high << 4) - 16: the nibble itself where the high bit is set, else nibble - 16,
  // which as int8 is nibble | 0xF0.
  static __m256i unpack(const uint8_t* b) {
    const __m256i high_clear = _mm256_andnot_si256(bytes_from_bits(b + kHighBits), _mm256_set1_epi8(static_cast<char>(0xF0)));
    return _mm256_or_si256(unpack_nibbles(b + kQuants), high_clear);
  }
#endif
  static int value(const uint8_t* b, int j) {
    uint32_t high;
    std::memcpy(&high, b + kHighBits, 4);
    const int nibble = j < 16 ? b[kQuants + j] & 0x0f : b[kQuants + j - 16] >> 4;
    return (nibble | static_cast<int>((high >> j) & 1u) << 4) - 16;
  }
};
struct Q8_0Layout {
  static constexpr int kBytes = 34, kQuants = 2;
  static constexpr bool kSigned = true, kHasOffset = false;
#ifdef STRATA_AVX2
  static __m256i unpack(const uint8_t* b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + kQuants)); }
#endif
  static int value(const uint8_t* b, int j) { return static_cast<int8_t>(b[kQuants + j]); }
};

// One weight row against N activation rows. Each row's arithmetic is exactly that of N = 1
// (same operations, same order), so results never depend on how many rows share a call.
template <typename Layout, int N>
void dot_rows(const uint8_t* w, const BlockQ8* const* x, int64_t n_blocks, float* out) {
  float offset[N] = {};
#ifdef STRATA_AVX2
  __m256 acc[N];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * Layout::kBytes;
    const __m256i q = Layout::unpack(wb);
    const float d = fp16_at(wb);
    const float m = Layout::kHasOffset ? fp16_at(wb + 2) : 0.0f;
    // Signed weights use the sign trick: |q| * (x with q's sign), |q| shared by every row.
    const __m256i q_abs = Layout::kSigned ? _mm256_sign_epi8(q, q) : q;
    for (int n = 0; n < N; ++n) {
      if constexpr (Layout::kHasOffset) offset[n] += m * x[n][b].s;
      const __m256i xq = load_qs(x[n][b]);
      const __m256 sum = dot_u8_i8(q_abs, Layout::kSigned ? _mm256_sign_epi8(xq, q) : xq);
      acc[n] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[n][b].d), sum, acc[n]);
    }
  }
  for (int n = 0; n < N; ++n) out[n] = hsum(acc[n]) + offset[n];
#else
  float sum[N] = {};
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + b * Layout::kBytes;
    const float d = fp16_at(wb);
    for (int n = 0; n < N; ++n) {
      int isum = 0;
      for (int j = 0; j < kQ8Block; ++j) isum += Layout::value(wb, j) * x[n][b].qs[j];
      sum[n] += d * x[n][b].d * static_cast<float>(isum);
      if constexpr (Layout::kHasOffset) offset[n] += fp16_at(wb + 2) * x[n][b].s;
    }
  }
  for (int n = 0; n < N; ++n) out[n] = sum[n] + offset[n];
#endif
}

template <typename Layout>
void dot_rows_dispatch(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out) {
  with_row_count(n_rows, [&]<int N>() { dot_rows<Layout, N>(w, x, n_blocks, out); });
}

template <typename Layout>
float dot_one(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) {
  float out;
  dot_rows<Layout, 1>(w, &x, n_blocks, &out);
  return out;
}

}  // namespace

void quantize_row_q8(const float* x, BlockQ8* y, int64_t n) {
  for (int64_t b = 0; b < n / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0.0f;
#ifdef STRATA_AVX2
    // The same maximum, products and round-to-nearest-even as the scalar loops (exact integer
    // sum), so the same bits.
    __m256 v[kQ8Block / 8], vmax = _mm256_setzero_ps();
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int i = 0; i < kQ8Block / 8; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      vmax = _mm256_max_ps(vmax, _mm256_and_ps(v[i], magnitude));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    for (const float m : lanes) amax = std::max(amax, m);
    const float d = amax / 127.0f;
    const __m256 inv = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i q[kQ8Block / 8], sum = _mm256_setzero_si256();
    for (int i = 0; i < kQ8Block / 8; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      sum = _mm256_add_epi32(sum, q[i]);
    }
    static_assert(kQ8Block == 32, "four vectors of int32 pack into one of int8");
    // packs interleave 128-bit halves; the permute puts the 32 bytes back in order.
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs),
                        _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const int total = hsum_i32(sum);
#else
    for (int j = 0; j < kQ8Block; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
    int total = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      const int q = static_cast<int>(std::nearbyint(xb[j] * inv));
      y[b].qs[j] = static_cast<int8_t>(q);
      total += q;
    }
#endif
    y[b].d = round_to_fp16(d);
    y[b].s = round_to_fp16(d * static_cast<float>(total));
  }
}

float dot_q4_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) { return dot_one<Q4_0Layout>(w, x, n_blocks); }
float dot_q4_1_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) { return dot_one<Q4_1Layout>(w, x, n_blocks); }
float dot_q5_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) { return dot_one<Q5_0Layout>(w, x, n_blocks); }
float dot_q8_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks) { return dot_one<Q8_0Layout>(w, x, n_blocks); }

void dot_q4_0_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out) {
  dot_rows_dispatch<Q4_0Layout>(w, x, n_rows, n_blocks, out);
}
void dot_q4_1_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out) {
  dot_rows_dispatch<Q4_1Layout>(w, x, n_rows, n_blocks, out);
}
void dot_q5_0_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out) {
  dot_rows_dispatch<Q5_0Layout>(w, x, n_rows, n_blocks, out);
}
void dot_q8_0_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out) {
  dot_rows_dispatch<Q8_0Layout>(w, x, n_rows, n_blocks, out);
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
