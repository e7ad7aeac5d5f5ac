#include "engine/cpu/ops.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/common/half.h"
#include "engine/cpu/simd.h"

namespace strata::cpu {

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i] * x[i]);  // float product, as the reference
  float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * weight[i];
}

namespace {

// Rotates, for i < rope_dim / 2, the pair (x[first(i)], x[second(i)]) of every head by
// freq_scale * theta_i, theta_i = pos * base^(-2i/rope_dim) built by repeated multiplication like
// the reference does.
template <typename Pair>
void rope(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base, float freq_scale, Pair pair) {
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(rope_dim));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < rope_dim / 2; ++i) {
    const float angle = freq_scale * theta;
    const float c = std::cos(angle), s = std::sin(angle);
    const auto [first, second] = pair(i);
    for (int h = 0; h < n_heads; ++h) {
      float* head = x + static_cast<int64_t>(h) * head_dim;
      const float x0 = head[first], x1 = head[second];
      // Fused as the reference's compiler fuses it; either form is exact to an ulp, this one
      // matches llama.cpp bit for bit.
      head[first] = std::fma(x0, c, -(x1 * s));
      head[second] = std::fma(x0, s, x1 * c);
    }
    theta *= theta_scale;
  }
}

struct IndexPair {
  int first, second;
};

}  // namespace

void rope_adjacent_pairs(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base, float freq_scale) {
  rope(x, n_heads, head_dim, rope_dim, pos, base, freq_scale, [](int i) { return IndexPair{2 * i, 2 * i + 1}; });
}

void rope_split_halves(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base, float freq_scale) {
  const int half = rope_dim / 2;
  rope(x, n_heads, head_dim, rope_dim, pos, base, freq_scale, [half](int i) { return IndexPair{i, i + half}; });
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

namespace {

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoefA = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

// gelu_tanh of every fp16 value, rounded to fp16: llama.cpp's table, so our activations match.
const std::array<uint16_t, 65536>& gelu_fp16_table() {
  static const auto table = [] {
    std::array<uint16_t, 65536> t{};
    for (size_t i = 0; i < t.size(); ++i) t[i] = f32_to_fp16(gelu_tanh(fp16_to_f32(static_cast<uint16_t>(i))));
    return t;
  }();
  return table;
}

}  // namespace

void geglu_tanh(const float* gate, const float* up, float* out, int64_t n) {
  const auto& table = gelu_fp16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float gelu = g <= -10.0f ? 0.0f : g >= 10.0f ? g : fp16_to_f32(table[f32_to_fp16(g)]);
    out[i] = gelu * up[i];
  }
}

namespace {

// Attention sums use one fixed order: element i goes to lane i % 16, lanes accumulate in index
// order and are folded by halves -- the order of one 512-bit vector accumulator and its
// horizontal add. A fixed order makes results independent of the SIMD width we compile for and
// of the batch (outputs stay batch-invariant); this one is also the order of llama.cpp's CPU
// prompt kernels, so on fp16 inputs (whose products are exact in float32) we match them bit for
// bit, which matters in a model that amplifies rounding differences.
constexpr int kLanes = 16;

float fold_lanes(const float* lane) {
  float half[8], quarter[4];
  for (int i = 0; i < 8; ++i) half[i] = lane[i] + lane[i + 8];
  for (int i = 0; i < 4; ++i) quarter[i] = half[i] + half[i + 4];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

// sum_i a[i] * b[i] in lane order; a is fp16, b holds fp16 values widened (so every product is
// exact and fused and unfused multiply-adds agree).
float lane_dot_f16(const uint16_t* a, const float* b, int n) {
  float lane[kLanes] = {};
  int i = 0;
#ifdef STRATA_AVX2
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  for (; i + kLanes <= n; i += kLanes) {
    lo = _mm256_fmadd_ps(load_fp16x8(a + i), _mm256_loadu_ps(b + i), lo);
    hi = _mm256_fmadd_ps(load_fp16x8(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
  }
  _mm256_storeu_ps(lane, lo);
  _mm256_storeu_ps(lane + 8, hi);
#endif
  for (; i < n; ++i) lane[i % kLanes] += fp16_value(a[i]) * b[i];
  return fold_lanes(lane);
}

#ifdef STRATA_AVX2
// Rows r..r+7 of an 8 x 8 matrix of floats held as 8 vectors become its columns.
void transpose8x8(__m256 (&m)[8]) {
  __m256 a[8], b[8];
  for (int i = 0; i < 8; i += 2) {
    a[i] = _mm256_unpacklo_ps(m[i], m[i + 1]);
    a[i + 1] = _mm256_unpackhi_ps(m[i], m[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    b[i] = _mm256_shuffle_ps(a[i], a[i + 2], 0x44);
    b[i + 1] = _mm256_shuffle_ps(a[i], a[i + 2], 0xee);
    b[i + 2] = _mm256_shuffle_ps(a[i + 1], a[i + 3], 0x44);
    b[i + 3] = _mm256_shuffle_ps(a[i + 1], a[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    m[i] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x20);
    m[i + 4] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x31);
  }
}

// lane_dot_f16 of eight rows against b (n % 16 == 0): each row's 16 lane sums formed as there,
// then the eight folds side by side, one row per vector lane -- the same operations in the same
// order, so the same bits, without a serial fold per row.
void lane_dots_f16x8(const uint16_t* const (&rows)[8], const float* b, int n, float* out) {
  __m256 lo[8], hi[8];
  for (int r = 0; r < 8; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int i = 0; i < n; i += kLanes) {
    const __m256 b_lo = _mm256_loadu_ps(b + i), b_hi = _mm256_loadu_ps(b + i + 8);
    for (int r = 0; r < 8; ++r) {
      lo[r] = _mm256_fmadd_ps(load_fp16x8(rows[r] + i), b_lo, lo[r]);
      hi[r] = _mm256_fmadd_ps(load_fp16x8(rows[r] + i + 8), b_hi, hi[r]);
    }
  }
  transpose8x8(lo);  // lo[l]: lane l of the eight rows
  transpose8x8(hi);  // hi[l]: lane 8 + l
  __m256 half[8], quarter[4];
  for (int i = 0; i < 8; ++i) half[i] = _mm256_add_ps(lo[i], hi[i]);
  for (int i = 0; i < 4; ++i) quarter[i] = _mm256_add_ps(half[i], half[i + 4]);
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(quarter[0], quarter[2]), _mm256_add_ps(quarter[1], quarter[3])));
}
#endif

// lane[0..n) += p * v[0..n) for fp16 v (exact products, as above).
void lane_axpy_f16(float p, const uint16_t* v, float* lane, int n) {
  int d = 0;
#ifdef STRATA_AVX2
  const __m256 pv = _mm256_set1_ps(p);
  for (; d + 8 <= n; d += 8) {
    _mm256_storeu_ps(lane + d, _mm256_fmadd_ps(pv, load_fp16x8(v + d), _mm256_loadu_ps(lane + d)));
  }
#endif
  for (; d < n; ++d) lane[d] += p * fp16_value(v[d]);
}

#ifdef STRATA_AVX2
// lanes[l][d0, d0 + 8N) = the sum over the read keys t = l (mod 16), ascending, of
// round_to_fp16(weights[t]) * v_t[d0, d0 + 8N): lane_axpy_f16's operations in its order, one
// lane at a time so the 8N accumulators stay in registers.
template <int N>
void accumulate_lane_dims(const PagedKvView& v, std::span<const attention::KeyRange> keys, int64_t head_offset, int d0,
                          const float* weights, float (&lanes)[kLanes][kMaxHeadDim]) {
  for (int64_t l = 0; l < kLanes; ++l) {
    __m256 acc[N];
    for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
    for (const attention::KeyRange& range : keys) {
      for (int64_t t = range.begin + ((l - range.begin) % kLanes + kLanes) % kLanes; t < range.end; t += kLanes) {
        const __m256 p = _mm256_set1_ps(round_to_fp16(weights[t]));
        const uint16_t* row = v.row(t) + head_offset + d0;
        for (int j = 0; j < N; ++j) acc[j] = _mm256_fmadd_ps(p, load_fp16x8(row + 8 * j), acc[j]);
      }
    }
    for (int j = 0; j < N; ++j) _mm256_storeu_ps(lanes[l] + d0 + 8 * j, acc[j]);
  }
}

// Every lane of every dimension (head_dim % 8 == 0), up to 64 dimensions at a time.
void accumulate_lanes(const PagedKvView& v, std::span<const attention::KeyRange> keys, int64_t head_offset, int head_dim,
                      const float* weights, float (&lanes)[kLanes][kMaxHeadDim]) {
  for (int d0 = 0; d0 < head_dim; d0 += 64) {
    switch (std::min(64, head_dim - d0) / 8) {
      case 1: accumulate_lane_dims<1>(v, keys, head_offset, d0, weights, lanes); break;
      case 2: accumulate_lane_dims<2>(v, keys, head_offset, d0, weights, lanes); break;
      case 3: accumulate_lane_dims<3>(v, keys, head_offset, d0, weights, lanes); break;
      case 4: accumulate_lane_dims<4>(v, keys, head_offset, d0, weights, lanes); break;
      case 5: accumulate_lane_dims<5>(v, keys, head_offset, d0, weights, lanes); break;
      case 6: accumulate_lane_dims<6>(v, keys, head_offset, d0, weights, lanes); break;
      case 7: accumulate_lane_dims<7>(v, keys, head_offset, d0, weights, lanes); break;
      default: accumulate_lane_dims<8>(v, keys, head_offset, d0, weights, lanes); break;
    }
  }
}
#endif

}  // namespace

void attention_one_query(const float* q, const PagedKvView& k, const PagedKvView& v,
                         std::span<const attention::KeyRange> keys, int head, int n_heads, int n_kv_heads,
                         int head_dim, float scale, float* scores, float* out) {
  const int kv_head = head / (n_heads / n_kv_heads);
  const int64_t head_offset = static_cast<int64_t>(kv_head) * head_dim;
  const float* qh = q + static_cast<int64_t>(head) * head_dim;
  // Every read key in ascending order.
  const auto for_each_key = [&](auto&& visit) {
    for (const attention::KeyRange& range : keys) {
      for (int64_t t = range.begin; t < range.end; ++t) visit(t);
    }
  };

  float q_rounded[kMaxHeadDim];
  for (int d = 0; d < head_dim; ++d) q_rounded[d] = round_to_fp16(qh[d]);

  // Masked keys take no part, yet every key keeps its lane (t % 16) and block of 16 (aligned at
  // 0), so the sums come out as those of a full row whose masked entries are exact zeros --
  // what llama.cpp's masked softmax computes.
  float max_score = -INFINITY;
  auto score = [&](int64_t t, float dot) {
    scores[t] = dot * scale;
    max_score = std::max(max_score, scores[t]);
  };
  auto score_one = [&](int64_t t) { score(t, lane_dot_f16(k.row(t) + head_offset, q_rounded, head_dim)); };
#ifdef STRATA_AVX2
  if (head_dim % kLanes == 0) {  // eight keys at a time, the last few one by one
    __m256 max_v = _mm256_set1_ps(-INFINITY);
    int64_t batch[8];
    const uint16_t* rows[8];
    float dots[8];
    int batched = 0;
    for_each_key([&](int64_t t) {
      batch[batched] = t;
      rows[batched] = k.row(t) + head_offset;
      if (++batched < 8) return;
      lane_dots_f16x8(rows, q_rounded, head_dim, dots);
      const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(dots), _mm256_set1_ps(scale));
      max_v = _mm256_max_ps(max_v, scaled);
      _mm256_storeu_ps(dots, scaled);
      for (int j = 0; j < 8; ++j) scores[batch[j]] = dots[j];
      batched = 0;
    });
    for (int j = 0; j < batched; ++j) score_one(batch[j]);
    float maxima[8];
    _mm256_storeu_ps(maxima, max_v);
    for (const float m : maxima) max_score = std::max(max_score, m);
  } else {
    for_each_key(score_one);
  }
#else
  for_each_key(score_one);
#endif
  // Softmax: the exponentials, eight aligned keys at a time through one routine (keys of a group
  // outside the range masked off, never read or written), so a key's value does not depend on
  // how the ranges fall; then summed per block of 16 lanes, blocks holding a read key
  // accumulated in double.
#ifdef STRATA_AVX2
  const __m256 max_v = _mm256_set1_ps(max_score);
  for (const attention::KeyRange& range : keys) {
    const __m256i begin = _mm256_set1_epi32(static_cast<int32_t>(range.begin) - 1);
    const __m256i end = _mm256_set1_epi32(static_cast<int32_t>(range.end));
    for (int64_t g = range.begin & ~int64_t{7}; g < range.end; g += 8) {
      const __m256i t = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(g)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(t, begin), _mm256_cmpgt_epi32(end, t));
      const __m256 x = _mm256_maskload_ps(scores + g, inside);
      _mm256_maskstore_ps(scores + g, inside, exp_nonpositive(_mm256_sub_ps(x, max_v)));
    }
  }
#else
  for_each_key([&](int64_t t) { scores[t] = exp_nonpositive(scores[t] - max_score); });
#endif
  double sum = 0.0;
  float lane[kLanes] = {};
  int64_t block = -1;  // the block of 16 keys whose exponentials `lane` holds
  for_each_key([&](int64_t t) {
    if (t / kLanes != block) {
      if (block >= 0) sum += fold_lanes(lane);
      std::fill(lane, lane + kLanes, 0.0f);
      block = t / kLanes;
    }
    lane[t % kLanes] = scores[t];
  });
  if (block >= 0) sum += fold_lanes(lane);
  const float inv_sum = static_cast<float>(1.0 / sum);
  // out[d] = sum_t p_t * v_t[d], with p rounded to fp16 and key t in lane t % 16.
  float lanes[kLanes][kMaxHeadDim];
  for_each_key([&](int64_t t) { scores[t] *= inv_sum; });
#ifdef STRATA_AVX2
  if (head_dim % 8 == 0) {
    accumulate_lanes(v, keys, head_offset, head_dim, scores, lanes);
  } else
#endif
  {
    for (int64_t l = 0; l < kLanes; ++l) std::fill(lanes[l], lanes[l] + head_dim, 0.0f);
    for_each_key([&](int64_t t) { lane_axpy_f16(round_to_fp16(scores[t]), v.row(t) + head_offset, lanes[t % kLanes], head_dim); });
  }
  float* oh = out + static_cast<int64_t>(head) * head_dim;
  for (int d = 0; d < head_dim; ++d) {
    float column[kLanes];
    for (int l = 0; l < kLanes; ++l) column[l] = lanes[l][d];
    oh[d] = fold_lanes(column);
  }
}

}  // namespace strata::cpu
