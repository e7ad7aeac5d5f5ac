// Every CPU kernel (engine/cpu/, engine/common/half.h) against a plain double-precision
// reference written here, on fresh random data each run. Each test prints its seed on failure;
// set STRATA_TEST_SEED=<seed> to rerun with the same data.
//
// Tolerances are derived, not tuned: float summation is allowed (terms + 4) * 2^-24 of the sum
// of absolute terms (the classic worst-case bound), and activation quantization is allowed its
// worst case per block (half a step of the int8 grid plus the fp16 rounding of the scale).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/common/half.h"
#include "engine/cpu/kquant_dot.h"
#include "engine/cpu/matmul.h"
#include "engine/cpu/ops.h"
#include "engine/cpu/q8_k.h"
#include "engine/cpu/quant_dot.h"
#include "engine/cpu/thread_pool.h"
#include "engine/gguf/dequantize.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_types.h"

namespace strata::cpu {
namespace {

using gguf::TensorType;

// ---------------------------------------------------------------------------------------------
// Seeds, random data, comparisons

uint32_t test_seed() {
  if (const char* s = std::getenv("STRATA_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

// Declares `rng`, seeded freshly, with the seed in every failure message of the scope.
#define STRATA_SEEDED_RNG(rng)                                                                           \
  const uint32_t rng##_seed = test_seed();                                                               \
  SCOPED_TRACE("seed " + std::to_string(rng##_seed) + " (rerun with STRATA_TEST_SEED=" +                 \
               std::to_string(rng##_seed) + ")");                                                        \
  std::mt19937 rng(rng##_seed)

constexpr double kFloatEps = 1.0 / (1 << 24);  // unit roundoff of float32

std::vector<float> normal_floats(std::mt19937& rng, size_t n, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

float uniform(std::mt19937& rng, float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

uint8_t random_byte(std::mt19937& rng) { return static_cast<uint8_t>(rng() & 0xffu); }

// ‖a − b‖ / ‖b‖ in double (0 when both are zero).
template <typename A, typename B>
double rel_norm(const A& a, const B& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den == 0.0 ? std::sqrt(num) : std::sqrt(num / den);
}

float half_value(uint16_t h) { return fp16_to_f32(h); }
float round_half(float x) { return fp16_to_f32(f32_to_fp16(x)); }

void put_half(uint8_t* p, float x) {
  uint16_t h = f32_to_fp16(x);
  std::memcpy(p, &h, 2);
}

float get_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

// ---------------------------------------------------------------------------------------------
// Random weights in GGUF block layouts

gguf::TensorTypeTraits traits(TensorType type) { return *gguf::tensor_type_traits(type); }

size_t row_bytes(TensorType type, int64_t cols) {
  auto t = traits(type);
  return static_cast<size_t>(cols / t.block_elems) * t.block_bytes;
}

// `rows` rows of `cols` elements of `type`, with random quants and sane fp16 scales.
std::vector<uint8_t> random_weights(std::mt19937& rng, TensorType type, int64_t rows, int64_t cols) {
  const auto t = traits(type);
  const int64_t n_blocks = rows * cols / t.block_elems;
  std::vector<uint8_t> data(static_cast<size_t>(n_blocks) * t.block_bytes);
  for (uint8_t& b : data) b = random_byte(rng);  // every quant byte uniformly random
  for (int64_t i = 0; i < n_blocks; ++i) {
    uint8_t* b = data.data() + i * t.block_bytes;
    const float sign = (rng() & 1) ? 1.0f : -1.0f;
    switch (type) {
      case TensorType::kF32: {
        float x = std::normal_distribution<float>(0.0f, 0.1f)(rng);
        std::memcpy(b, &x, 4);
        break;
      }
      case TensorType::kF16: put_half(b, std::normal_distribution<float>(0.0f, 0.1f)(rng)); break;
      case TensorType::kQ4_0: put_half(b, sign * uniform(rng, 0.002f, 0.05f)); break;
      case TensorType::kQ5_0: put_half(b, sign * uniform(rng, 0.001f, 0.025f)); break;  // 32 high bits random
      case TensorType::kQ4_1:
        put_half(b, uniform(rng, 0.002f, 0.05f));
        put_half(b + 2, uniform(rng, -0.4f, 0.1f));
        break;
      case TensorType::kQ8_0: put_half(b, sign * uniform(rng, 0.0005f, 0.005f)); break;  // qs: full int8 range incl. -128
      case TensorType::kQ4_K:
        put_half(b, uniform(rng, 0.0005f, 0.005f));      // d
        put_half(b + 2, uniform(rng, 0.0005f, 0.005f));  // dmin
        break;                                           // 12 scale bytes (6-bit pairs) and qs random
      case TensorType::kQ6_K: put_half(b + 208, sign * uniform(rng, 0.0001f, 0.001f)); break;  // int8 scales random
      default: ADD_FAILURE() << "no generator for type " << gguf::tensor_type_name(type);
    }
  }
  return data;
}

std::vector<float> dequantized(TensorType type, const std::vector<uint8_t>& data, int64_t rows, int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  gguf::dequantize_row(type, data.data(), out.data(), rows * cols);
  return out;
}

gguf::TensorInfo tensor_info(TensorType type, const std::vector<uint8_t>& data, int64_t rows, int64_t cols) {
  gguf::TensorInfo t;
  t.name = "w";
  t.dims = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)};
  t.type = type;
  t.n_elements = static_cast<uint64_t>(rows * cols);
  t.n_bytes = data.size();
  t.data = data.data();
  return t;
}

// ---------------------------------------------------------------------------------------------
// References for the Q8 activation path

// The activation as the kernels see it: qs * d per block, read from the quantized blocks.
std::vector<double> q8_values(const std::vector<BlockQ8>& q8) {
  std::vector<double> out;
  for (const BlockQ8& b : q8) {
    for (int j = 0; j < kQ8Block; ++j) out.push_back(static_cast<double>(b.qs[j]) * b.d);
  }
  return out;
}

// sum_j w_j * xq_j in double, where xq are the Q8 activations, plus for Q4_1 the part of its
// design that differs from that: it multiplies each block's offset m by the stored s = fp16(d*Σq)
// rather than by d*Σq. Also returns the scale for the summation tolerance (sum of |terms|).
std::pair<double, double> q8_reference_dot(TensorType type, const uint8_t* wrow, const float* wdeq,
                                           const std::vector<BlockQ8>& q8, const std::vector<double>& xq) {
  double dot = 0.0, scale = 0.0;
  for (size_t j = 0; j < xq.size(); ++j) {
    dot += static_cast<double>(wdeq[j]) * xq[j];
    scale += std::fabs(static_cast<double>(wdeq[j]) * xq[j]);
  }
  if (type == TensorType::kQ4_1) {
    for (size_t b = 0; b < q8.size(); ++b) {
      const double m = get_half(wrow + b * 20 + 2);
      int sum_q = 0;
      for (int j = 0; j < kQ8Block; ++j) sum_q += q8[b].qs[j];
      dot += m * (static_cast<double>(q8[b].s) - static_cast<double>(q8[b].d) * sum_q);
      // The kernel's terms are d*q*xq (|d*q| <= |w| + |m|) and m*s.
      for (int j = 0; j < kQ8Block; ++j) scale += std::fabs(m * xq[b * kQ8Block + static_cast<size_t>(j)]);
      scale += std::fabs(m * q8[b].s);
    }
  }
  return {dot, scale};
}

// Worst-case |sum_j w_j x_j - kernel| due to quantizing the float activations x. Per block of
// 32, every element is within e_b = amax/127 * (1/2 + 127 * 2^-11 + 256u) of qs * fp16(amax/127):
// half a grid step, the float rounding of x * (127/amax), and the fp16 rounding of the scale
// times |qs| <= 127. For Q4_1 (w = d*q + m) the offset uses s = fp16(d_x * Σqs) in place of Σx:
// |s - Σx| <= 32 e_b + 2^-10 (Σ|x| + 16 d_x) + 2^-24.
double q8_activation_error_bound(TensorType type, const uint8_t* wrow, const float* wdeq, const float* x, int64_t n) {
  double bound = 0.0;
  for (int64_t b = 0; b < n / kQ8Block; ++b) {
    double amax = 0.0, sum_abs_x = 0.0;
    for (int j = 0; j < kQ8Block; ++j) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[b * kQ8Block + j])));
      sum_abs_x += std::fabs(static_cast<double>(x[b * kQ8Block + j]));
    }
    const double d = amax / 127.0;
    const double e = d * (0.5 + 127.0 / 2048.0 + 256 * kFloatEps);
    const double m = type == TensorType::kQ4_1 ? get_half(wrow + b * 20 + 2) : 0.0;
    for (int j = 0; j < kQ8Block; ++j) bound += std::fabs(static_cast<double>(wdeq[b * kQ8Block + j]) - m) * e;
    if (type == TensorType::kQ4_1) {
      bound += std::fabs(m) * (32.0 * e + (sum_abs_x + 16.0 * d) / 1024.0 + 1.0 / (1 << 24));
    }
  }
  return bound;
}

// Activations with block-to-block magnitude variation and occasional outliers, as in a model.
std::vector<float> activations(std::mt19937& rng, int64_t n) {
  std::vector<float> x = normal_floats(rng, static_cast<size_t>(n));
  for (int64_t b = 0; b < n / kQ8Block; ++b) {
    float block_scale = std::exp(uniform(rng, -3.0f, 3.0f));
    for (int j = 0; j < kQ8Block; ++j) x[static_cast<size_t>(b * kQ8Block + j)] *= block_scale;
    if (rng() % 4 == 0) x[static_cast<size_t>(b * kQ8Block + static_cast<int64_t>(rng() % kQ8Block))] *= 20.0f;
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// quantize_row_q8

TEST(CpuOpsQuantDot, QuantizeRowQ8IsWithinHalfAGridStep) {
  STRATA_SEEDED_RNG(rng);
  for (int64_t n : {32, 64, 256, 4096}) {
    std::vector<float> x = activations(rng, n);
    std::vector<BlockQ8> q8(static_cast<size_t>(n / kQ8Block));
    quantize_row_q8(x.data(), q8.data(), n);
    for (int64_t b = 0; b < n / kQ8Block; ++b) {
      const float* xb = x.data() + b * kQ8Block;
      float amax = 0.0f;
      for (int j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const double d_exact = static_cast<double>(amax) / 127.0;
      const BlockQ8& q = q8[static_cast<size_t>(b)];
      EXPECT_EQ(q.d, round_half(amax / 127.0f)) << "block " << b;
      int sum = 0, qmax = 0;
      for (int j = 0; j < kQ8Block; ++j) {
        ASSERT_GE(q.qs[j], -127);
        ASSERT_LE(q.qs[j], 127);
        // Half a step, plus the float rounding of 127/amax and of x * (127/amax) (<= 127 * 2u steps).
        EXPECT_LE(std::fabs(xb[j] - q.qs[j] * d_exact), d_exact * (0.5 + 256 * kFloatEps)) << "block " << b << " elem " << j;
        sum += q.qs[j];
        qmax = std::max(qmax, std::abs(static_cast<int>(q.qs[j])));
      }
      EXPECT_EQ(qmax, 127) << "block " << b << ": the largest element maps to +-127";
      // s is d * sum(qs) rounded to fp16 (with the unrounded or the rounded d: both within this).
      EXPECT_NEAR(q.s, d_exact * sum, std::fabs(d_exact * sum) / 1024.0 + 1.0 / (1 << 24)) << "block " << b;
    }
  }
}

TEST(CpuOpsQuantDot, QuantizeRowQ8OfZerosIsZero) {
  std::vector<float> x(64, 0.0f);
  x[40] = -0.0f;
  std::vector<BlockQ8> q8(2);
  quantize_row_q8(x.data(), q8.data(), 64);
  for (const BlockQ8& b : q8) {
    EXPECT_EQ(b.d, 0.0f);
    EXPECT_EQ(b.s, 0.0f);
    for (int j = 0; j < kQ8Block; ++j) EXPECT_EQ(b.qs[j], 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Quantized dot products

using QuantDotFn = float (*)(const uint8_t*, const BlockQ8*, int64_t);

void check_quant_dot(TensorType type, QuantDotFn dot) {
  STRATA_SEEDED_RNG(rng);
  const size_t bytes_per_block = traits(type).block_bytes;
  for (int64_t n_blocks : {1, 2, 3, 8, 33, 128}) {
    SCOPED_TRACE("n_blocks " + std::to_string(n_blocks));
    const int64_t n = n_blocks * kQ8Block, rows = 48;
    std::vector<uint8_t> w = random_weights(rng, type, rows, n);
    std::vector<float> wdeq = dequantized(type, w, rows, n);
    std::vector<float> x = activations(rng, n);
    std::vector<BlockQ8> q8(static_cast<size_t>(n_blocks));
    quantize_row_q8(x.data(), q8.data(), n);
    const std::vector<double> xq = q8_values(q8);

    std::vector<float> got(rows);
    std::vector<double> ref_q8(rows), ref_float(rows);
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* wrow = w.data() + static_cast<size_t>(r * n_blocks) * bytes_per_block;
      const float* wd = wdeq.data() + r * n;
      got[static_cast<size_t>(r)] = dot(wrow, q8.data(), n_blocks);
      auto [ref, scale] = q8_reference_dot(type, wrow, wd, q8, xq);
      ref_q8[static_cast<size_t>(r)] = ref;
      // Exact up to float summation: (blocks + 4) * eps * sum of |terms| (fp16 products are exact).
      EXPECT_NEAR(got[static_cast<size_t>(r)], ref, (static_cast<double>(n_blocks) + 4.0) * 2.0 * kFloatEps * scale + 1e-30)
          << "row " << r << " vs the dequantized Q8 activations";

      double ref_f = 0.0;
      for (int64_t j = 0; j < n; ++j) ref_f += static_cast<double>(wd[j]) * x[static_cast<size_t>(j)];
      ref_float[static_cast<size_t>(r)] = ref_f;
      const double bound = q8_activation_error_bound(type, wrow, wd, x.data(), n) + 1e-5 * scale;
      EXPECT_NEAR(got[static_cast<size_t>(r)], ref_f, bound) << "row " << r << " vs the float activations";
    }
    EXPECT_LT(rel_norm(got, ref_q8), 1e-5);
  }
}

TEST(CpuOpsQuantDot, Q4_0) { check_quant_dot(TensorType::kQ4_0, dot_q4_0_q8); }
TEST(CpuOpsQuantDot, Q4_1) { check_quant_dot(TensorType::kQ4_1, dot_q4_1_q8); }
TEST(CpuOpsQuantDot, Q5_0) { check_quant_dot(TensorType::kQ5_0, dot_q5_0_q8); }
TEST(CpuOpsQuantDot, Q8_0) { check_quant_dot(TensorType::kQ8_0, dot_q8_0_q8); }

TEST(CpuOpsQuantDot, Q8_0WithExtremeQuants) {
  // Weights of -128 and +127 against activations of +-127 stress the int8 sign trick and the
  // 16-bit pair sums (128 * 127 * 2 = 32512 fits).
  STRATA_SEEDED_RNG(rng);
  const int64_t n_blocks = 4;
  std::vector<uint8_t> w(static_cast<size_t>(n_blocks) * 34);
  std::vector<float> x(static_cast<size_t>(n_blocks * kQ8Block));
  for (int64_t b = 0; b < n_blocks; ++b) {
    put_half(w.data() + b * 34, 0.01f);
    for (int j = 0; j < kQ8Block; ++j) {
      w[static_cast<size_t>(b * 34 + 2 + j)] = static_cast<uint8_t>((rng() & 1) ? 0x80 : 0x7f);
      x[static_cast<size_t>(b * kQ8Block + j)] = (rng() & 1) ? 1.0f : -1.0f;
    }
  }
  std::vector<BlockQ8> q8(static_cast<size_t>(n_blocks));
  quantize_row_q8(x.data(), q8.data(), n_blocks * kQ8Block);
  double ref = 0.0;
  for (int64_t b = 0; b < n_blocks; ++b) {
    for (int j = 0; j < kQ8Block; ++j) {
      ref += static_cast<int8_t>(w[static_cast<size_t>(b * 34 + 2 + j)]) * static_cast<double>(get_half(w.data() + b * 34)) *
             q8[static_cast<size_t>(b)].qs[j] * q8[static_cast<size_t>(b)].d;
    }
  }
  double scale = 0.0;  // sum of |terms|
  for (int64_t b = 0; b < n_blocks; ++b) {
    for (int j = 0; j < kQ8Block; ++j) scale += 128.0 * 0.01 * std::abs(q8[static_cast<size_t>(b)].qs[j]) * q8[static_cast<size_t>(b)].d;
  }
  EXPECT_NEAR(dot_q8_0_q8(w.data(), q8.data(), n_blocks), ref, (static_cast<double>(n_blocks) + 4.0) * 2.0 * kFloatEps * scale);
}

// ---------------------------------------------------------------------------------------------
// Q8_K activations and the K-quant dot products

TEST(CpuOpsKQuantDot, QuantizeRowQ8KFollowsItsDefinition) {
  STRATA_SEEDED_RNG(rng);
  for (int64_t n : {256, 512, 2048}) {
    std::vector<float> x = activations(rng, n);
    std::vector<BlockQ8K> q(static_cast<size_t>(n / kQ8KBlock));
    quantize_row_q8_k(x.data(), q.data(), n);
    for (int64_t b = 0; b < n / kQ8KBlock; ++b) {
      const float* xb = x.data() + b * kQ8KBlock;
      const BlockQ8K& qb = q[static_cast<size_t>(b)];
      int extreme = 0;  // the first element of largest magnitude
      for (int j = 1; j < kQ8KBlock; ++j) extreme = std::fabs(xb[j]) > std::fabs(xb[extreme]) ? j : extreme;
      const float iscale = -127.0f / xb[extreme];
      EXPECT_EQ(qb.d, 1.0f / iscale) << "block " << b;
      EXPECT_EQ(qb.qs[extreme], -127) << "block " << b;
      for (int j = 0; j < kQ8KBlock; ++j) {
        ASSERT_GE(qb.qs[j], -127);
        ASSERT_LE(qb.qs[j], 127);
        EXPECT_LE(std::fabs(iscale * xb[j] - qb.qs[j]), 0.5f) << "block " << b << " elem " << j;
      }
      for (int g = 0; g < kQ8KBlock / 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += qb.qs[g * 16 + j];
        EXPECT_EQ(qb.bsums[g], sum) << "block " << b << " group " << g;
      }
    }
  }
}

TEST(CpuOpsKQuantDot, QuantizeRowQ8KTiesZerosAndHalves) {
  std::vector<float> x(2 * kQ8KBlock, 0.0f);
  x[5] = 127.0f;  // the first of two equal magnitudes sets the sign: iscale = -1, d = -1
  x[9] = -127.0f;
  x[10] = 1.5f;  // halves round to even
  x[11] = 2.5f;
  std::vector<BlockQ8K> q(2);
  std::memset(q.data(), 0x5a, q.size() * sizeof(BlockQ8K));
  quantize_row_q8_k(x.data(), q.data(), 2 * kQ8KBlock);
  EXPECT_EQ(q[0].d, -1.0f);
  EXPECT_EQ(q[0].qs[5], -127);
  EXPECT_EQ(q[0].qs[9], 127);
  EXPECT_EQ(q[0].qs[10], -2);
  EXPECT_EQ(q[0].qs[11], -2);
  EXPECT_EQ(q[1].d, 0.0f);  // an all-zero block is all zero, sums included
  for (int j = 0; j < kQ8KBlock; ++j) EXPECT_EQ(q[1].qs[j], 0);
  for (int16_t s : q[1].bsums) EXPECT_EQ(s, 0);
}

// A K-quant block's weights split exactly as w = a - b: a = d * scale * q, b = dmin * min (Q6_K:
// b = 0), in double: the file's own dequantizer, given the block with that scale set to 1 and
// the other to 0, returns scale * q (or -min) exactly, as products of small integers.
void kquant_parts(TensorType type, const uint8_t* block, double* a, double* b) {
  const size_t bytes = traits(type).block_bytes;
  std::vector<uint8_t> copy(block, block + bytes);
  std::vector<float> part(kQ8KBlock);
  const size_t d_at = type == TensorType::kQ4_K ? 0 : 208;
  const double d = get_half(block + d_at);
  put_half(copy.data() + d_at, 1.0f);
  if (type == TensorType::kQ4_K) put_half(copy.data() + 2, 0.0f);
  gguf::dequantize_row(type, copy.data(), part.data(), kQ8KBlock);
  for (int j = 0; j < kQ8KBlock; ++j) a[j] = d * part[static_cast<size_t>(j)];
  for (int j = 0; j < kQ8KBlock; ++j) b[j] = 0.0;
  if (type == TensorType::kQ4_K) {
    const double dmin = get_half(block + 2);
    put_half(copy.data(), 0.0f);
    put_half(copy.data() + 2, 1.0f);
    gguf::dequantize_row(type, copy.data(), part.data(), kQ8KBlock);
    for (int j = 0; j < kQ8KBlock; ++j) b[j] = -dmin * part[static_cast<size_t>(j)];
  }
}

using KQuantRowsFn = void (*)(const uint8_t*, const BlockQ8K* const*, int, int64_t, float*);
using KQuantScalarFn = float (*)(const uint8_t*, const BlockQ8K*, int64_t);

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Extreme blocks: every quant and scale at the end of its range that maximizes the 16-bit pair
// sums, against activations of +-127 only.
void make_extreme(TensorType type, uint8_t* block) {
  const size_t bytes = traits(type).block_bytes;
  if (type == TensorType::kQ4_K) {
    std::memset(block, 0xff, bytes);  // scales and mins 63, quants 15
    put_half(block, 0.001f);
    put_half(block + 2, 0.002f);
  } else {
    std::memset(block, 0x00, bytes);  // quants -32
    std::memset(block + 192, 0x80, 16);  // scales -128
    put_half(block + 208, 0.0001f);
  }
}

void check_kquant_dot(TensorType type, KQuantRowsFn dot_rows, KQuantScalarFn dot_scalar) {
  STRATA_SEEDED_RNG(rng);
  const size_t block_bytes = traits(type).block_bytes;
  for (int64_t n_blocks : {1, 2, 3, 8}) {
    SCOPED_TRACE("n_blocks " + std::to_string(n_blocks));
    const int64_t n = n_blocks * kQ8KBlock, rows = 17;
    std::vector<uint8_t> w = random_weights(rng, type, rows, n);
    make_extreme(type, w.data() + static_cast<size_t>((rows - 1) * n_blocks) * block_bytes);
    std::vector<std::vector<BlockQ8K>> xq(kMaxDotRows, std::vector<BlockQ8K>(static_cast<size_t>(n_blocks)));
    for (int i = 0; i < kMaxDotRows; ++i) {
      std::vector<float> x = activations(rng, n);
      if (i == kMaxDotRows - 1) {
        for (float& v : x) v = (rng() & 1) ? 1.0f : -1.0f;
      }
      quantize_row_q8_k(x.data(), xq[static_cast<size_t>(i)].data(), n);
    }
    const BlockQ8K* x_rows[kMaxDotRows];
    for (int i = 0; i < kMaxDotRows; ++i) x_rows[i] = xq[static_cast<size_t>(i)].data();

    for (int64_t r = 0; r < rows; ++r) {
      SCOPED_TRACE("row " + std::to_string(r));
      const uint8_t* wrow = w.data() + static_cast<size_t>(r * n_blocks) * block_bytes;
      float all[kMaxDotRows];
      dot_rows(wrow, x_rows, kMaxDotRows, n_blocks, all);
      for (int n_rows = 1; n_rows < kMaxDotRows; ++n_rows) {
        float some[kMaxDotRows];
        dot_rows(wrow, x_rows, n_rows, n_blocks, some);
        for (int i = 0; i < n_rows; ++i) EXPECT_EQ(float_bits(some[i]), float_bits(all[i])) << n_rows << " rows, row " << i;
      }
      for (int i = 0; i < kMaxDotRows; ++i) {
        EXPECT_EQ(float_bits(dot_scalar(wrow, x_rows[i], n_blocks)), float_bits(all[i])) << "scalar path, activations " << i;
        double ref = 0.0, scale = 0.0;
        std::vector<double> a(kQ8KBlock), b(kQ8KBlock);
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
          kquant_parts(type, wrow + static_cast<size_t>(blk) * block_bytes, a.data(), b.data());
          const BlockQ8K& xb = x_rows[i][blk];
          for (int j = 0; j < kQ8KBlock; ++j) {
            const double xv = static_cast<double>(xb.qs[j]) * xb.d;
            ref += (a[static_cast<size_t>(j)] - b[static_cast<size_t>(j)]) * xv;
            scale += (std::fabs(a[static_cast<size_t>(j)]) + std::fabs(b[static_cast<size_t>(j)])) * std::fabs(xv);
          }
        }
        // One rounding of each block's scale product and integer sum, then float sums over blocks
        // (and 8 lanes folded): (blocks + 8) * 2u of the sum of |terms|.
        EXPECT_NEAR(all[i], ref, (static_cast<double>(n_blocks) + 8.0) * 2.0 * kFloatEps * scale + 1e-30) << "activations " << i;
      }
    }
  }
}

TEST(CpuOpsKQuantDot, Q4_K) { check_kquant_dot(TensorType::kQ4_K, dot_q4_k_q8_k_rows, scalar::dot_q4_k_q8_k); }
TEST(CpuOpsKQuantDot, Q6_K) { check_kquant_dot(TensorType::kQ6_K, dot_q6_k_q8_k_rows, scalar::dot_q6_k_q8_k); }

// ---------------------------------------------------------------------------------------------
// Float dot products

TEST(CpuOpsFloatDot, DotF32AndF16) {
  STRATA_SEEDED_RNG(rng);
  for (int64_t n = 0; n <= 70; ++n) {
    for (int64_t big : {int64_t{0}, int64_t{4096}}) {
      const int64_t len = n + big;
      SCOPED_TRACE("n " + std::to_string(len));
      std::vector<float> a = normal_floats(rng, static_cast<size_t>(len)), b = normal_floats(rng, static_cast<size_t>(len));
      std::vector<uint16_t> ah(static_cast<size_t>(len));
      for (size_t i = 0; i < ah.size(); ++i) ah[i] = f32_to_fp16(a[i]);
      double ref32 = 0.0, ref16 = 0.0, abs32 = 0.0, abs16 = 0.0;
      for (size_t i = 0; i < a.size(); ++i) {
        ref32 += static_cast<double>(a[i]) * b[i];
        abs32 += std::fabs(static_cast<double>(a[i]) * b[i]);
        ref16 += static_cast<double>(half_value(ah[i])) * b[i];
        abs16 += std::fabs(static_cast<double>(half_value(ah[i])) * b[i]);
      }
      const double slack = (static_cast<double>(len) + 4.0) * kFloatEps;
      EXPECT_NEAR(dot_f32(a.data(), b.data(), len), ref32, slack * abs32);
      EXPECT_NEAR(dot_f16_f32(ah.data(), b.data(), len), ref16, slack * abs16);
    }
  }
  EXPECT_EQ(dot_f32(nullptr, nullptr, 0), 0.0f);
  EXPECT_EQ(dot_f16_f32(nullptr, nullptr, 0), 0.0f);
}

// ---------------------------------------------------------------------------------------------
// matmul

struct MatmulCase {
  TensorType type;
  int64_t cols;
};

class CpuOpsMatmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(CpuOpsMatmul, MatchesReferenceAndIsIdenticalAcrossThreadCounts) {
  STRATA_SEEDED_RNG(rng);
  const TensorType type = GetParam().type;
  const int64_t cols = GetParam().cols, rows = 70;  // 70 = 4 full tiles of 16 and a partial one
  std::vector<uint8_t> w = random_weights(rng, type, rows, cols);
  ASSERT_EQ(w.size(), row_bytes(type, cols) * static_cast<size_t>(rows));
  const std::vector<float> wdeq = dequantized(type, w, rows, cols);
  const gguf::TensorInfo info = tensor_info(type, w, rows, cols);
  const WeightMatrix m = WeightMatrix::from_tensor(info);
  ASSERT_EQ(m.rows(), rows);
  ASSERT_EQ(m.cols(), cols);
  const bool q8 = type == TensorType::kQ4_0 || type == TensorType::kQ4_1 || type == TensorType::kQ5_0 ||
                  type == TensorType::kQ8_0;
  const bool q8k = type == TensorType::kQ4_K || type == TensorType::kQ6_K;
  const bool in_place = q8 || q8k || type == TensorType::kF16 || type == TensorType::kF32;
  EXPECT_EQ(m.type(), in_place ? type : TensorType::kF32);

  // The matrix's own row dequantization (used for embeddings) matches the file's.
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r : {int64_t{0}, int64_t{33}, rows - 1}) {
    m.dequantize_row(r, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), wdeq.data() + r * cols, row.size() * sizeof(float))) << "row " << r;
  }

  ThreadPool pool1(1), pool2(2);
  MatmulScratch scratch;
  for (int64_t n_tokens : {1, 3, 17}) {
    SCOPED_TRACE("n_tokens " + std::to_string(n_tokens));
    const std::vector<float> x = activations(rng, n_tokens * cols);
    std::vector<float> y1(static_cast<size_t>(n_tokens * rows), NAN), y2(y1.size(), NAN);
    matmul(m, x.data(), n_tokens, y1.data(), scratch, pool1);
    matmul(m, x.data(), n_tokens, y2.data(), scratch, pool2);
    EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << "1 and 2 threads differ";

    std::vector<double> ref(y1.size());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x.data() + t * cols;
      std::vector<BlockQ8> xq8(static_cast<size_t>(cols / kQ8Block));
      std::vector<double> xq;
      if (q8) {
        quantize_row_q8(xt, xq8.data(), cols);
        xq = q8_values(xq8);
      }
      std::vector<BlockQ8K> xq8k(static_cast<size_t>(cols / kQ8KBlock));
      if (q8k) quantize_row_q8_k(xt, xq8k.data(), cols);
      for (int64_t r = 0; r < rows; ++r) {
        const size_t i = static_cast<size_t>(t * rows + r);
        const float* wd = wdeq.data() + r * cols;
        const uint8_t* wrow = w.data() + static_cast<size_t>(r) * row_bytes(type, cols);
        double exact = 0.0, abs_sum = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
          exact += static_cast<double>(wd[j]) * xt[j];
          abs_sum += std::fabs(static_cast<double>(wd[j]) * xt[j]);
        }
        ref[i] = exact;
        if (q8) {
          // Against the quantized activations: float summation only.
          auto [ref_q, scale] = q8_reference_dot(type, wrow, wd, xq8, xq);
          EXPECT_NEAR(y1[i], ref_q, (static_cast<double>(cols) / kQ8Block + 4.0) * 2.0 * kFloatEps * scale + 1e-30)
              << "token " << t << " row " << r;
          EXPECT_NEAR(y1[i], exact, q8_activation_error_bound(type, wrow, wd, xt, cols) + 1e-5 * abs_sum)
              << "token " << t << " row " << r;
        } else if (q8k) {
          // The dot product on the Q8_K activations (checked against double above), bit for bit...
          const BlockQ8K* xk = xq8k.data();
          float dot;
          (type == TensorType::kQ4_K ? dot_q4_k_q8_k_rows : dot_q6_k_q8_k_rows)(wrow, &xk, 1, cols / kQ8KBlock, &dot);
          EXPECT_EQ(float_bits(y1[i]), float_bits(dot)) << "token " << t << " row " << r;
          // ...and within the worst case of quantizing x: |x - qs * d| <= |d| (1/2 + 2^-15) per element.
          double bound = 0.0;
          for (int64_t j = 0; j < cols; ++j) {
            bound += std::fabs(static_cast<double>(wd[j])) * std::fabs(xq8k[static_cast<size_t>(j / kQ8KBlock)].d) * (0.5 + 512 * kFloatEps);
          }
          EXPECT_NEAR(y1[i], exact, bound + 1e-5 * abs_sum) << "token " << t << " row " << r;
        } else {
          EXPECT_NEAR(y1[i], exact, (static_cast<double>(cols) + 4.0) * kFloatEps * abs_sum) << "token " << t << " row " << r;
        }
      }
    }
    if (!q8 && !q8k) {  // quantized types: the per-element quantization bound above
      EXPECT_LT(rel_norm(y1, ref), 1e-5);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CpuOpsMatmul,
                         ::testing::Values(MatmulCase{TensorType::kQ4_0, 512}, MatmulCase{TensorType::kQ4_1, 512},
                                           MatmulCase{TensorType::kQ5_0, 512},
                                           MatmulCase{TensorType::kQ8_0, 512}, MatmulCase{TensorType::kF16, 512},
                                           MatmulCase{TensorType::kF32, 512}, MatmulCase{TensorType::kQ6_K, 512},
                                           MatmulCase{TensorType::kQ4_K, 256}, MatmulCase{TensorType::kQ4_K, 1024},
                                           MatmulCase{TensorType::kQ8_0, 32},
                                           MatmulCase{TensorType::kF32, 96}),
                         [](const ::testing::TestParamInfo<MatmulCase>& param_info) {
                           return std::string(gguf::tensor_type_name(param_info.param.type)) + "_" +
                                  std::to_string(param_info.param.cols);
                         });

TEST(CpuOpsMatmulErrors, RejectsNonMatricesAndUnusableTypes) {
  std::vector<uint8_t> data(4 * 4 * 4 * 4);
  gguf::TensorInfo t = tensor_info(TensorType::kF32, data, 16, 4);
  t.dims = {4, 2, 2};
  EXPECT_THROW(WeightMatrix::from_tensor(t), gguf::FormatError);
  gguf::TensorInfo i8 = tensor_info(TensorType::kI8, data, 4, 4);
  EXPECT_THROW(WeightMatrix::from_tensor(i8), gguf::FormatError);
}

// ---------------------------------------------------------------------------------------------
// rms_norm, rope, swiglu

TEST(CpuOpsElementwise, RmsNorm) {
  STRATA_SEEDED_RNG(rng);
  for (int64_t n : {1, 7, 64, 4096}) {
    for (float eps : {1e-5f, 1e-6f, 0.5f}) {
      SCOPED_TRACE("n " + std::to_string(n) + " eps " + std::to_string(eps));
      std::vector<float> x = normal_floats(rng, static_cast<size_t>(n), uniform(rng, 0.01f, 10.0f));
      std::vector<float> w = normal_floats(rng, static_cast<size_t>(n));
      std::vector<float> y(static_cast<size_t>(n));
      rms_norm(x.data(), w.data(), y.data(), n, eps);
      double ss = 0.0;
      for (float v : x) ss += static_cast<double>(v) * v;
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
      for (int64_t i = 0; i < n; ++i) {
        const double ref = x[static_cast<size_t>(i)] * inv * w[static_cast<size_t>(i)];
        EXPECT_NEAR(y[static_cast<size_t>(i)], ref, 8 * kFloatEps * std::fabs(ref) + 1e-30) << "element " << i;
      }
    }
  }
  std::vector<float> zeros(16, 0.0f), ones(16, 1.0f), y(16, NAN);
  rms_norm(zeros.data(), ones.data(), y.data(), 16, 1e-6f);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(CpuOpsElementwise, RopeAdjacentPairs) {
  STRATA_SEEDED_RNG(rng);
  struct Shape {
    int n_heads, head_dim, rope_dim;
  };
  for (Shape s : {Shape{1, 64, 64}, Shape{4, 128, 128}, Shape{3, 128, 64}, Shape{2, 96, 32}, Shape{2, 80, 80}}) {
    for (int64_t pos : {0, 1, 2, 17, 100, 1000, 4095}) {
      for (float base : {10000.0f, 500000.0f}) {
        SCOPED_TRACE("heads " + std::to_string(s.n_heads) + " head_dim " + std::to_string(s.head_dim) + " rope_dim " +
                     std::to_string(s.rope_dim) + " pos " + std::to_string(pos) + " base " + std::to_string(base));
        const std::vector<float> x = normal_floats(rng, static_cast<size_t>(s.n_heads * s.head_dim));
        std::vector<float> y = x;
        rope_adjacent_pairs(y.data(), s.n_heads, s.head_dim, s.rope_dim, pos, base);
        for (int h = 0; h < s.n_heads; ++h) {
          const float* xh = x.data() + h * s.head_dim;
          const float* yh = y.data() + h * s.head_dim;
          for (int k = 0; k < s.rope_dim / 2; ++k) {
            const double theta = static_cast<double>(pos) * std::pow(static_cast<double>(base), -2.0 * k / s.rope_dim);
            const double x0 = xh[2 * k], x1 = xh[2 * k + 1];
            const double r0 = x0 * std::cos(theta) - x1 * std::sin(theta);
            const double r1 = x0 * std::sin(theta) + x1 * std::cos(theta);
            // theta is built in float by k multiplications with a rounded factor: its relative
            // error grows by ~1.5 ulp per step, so the angle is off by <= theta*(k+1)*2^-22.
            const double tol = std::hypot(x0, x1) * (theta * (k + 1) * 4.0 * kFloatEps + 8.0 * kFloatEps);
            EXPECT_NEAR(yh[2 * k], r0, tol) << "head " << h << " pair " << k;
            EXPECT_NEAR(yh[2 * k + 1], r1, tol) << "head " << h << " pair " << k;
          }
          // Dimensions past rope_dim are left exactly as they were.
          EXPECT_EQ(0, std::memcmp(xh + s.rope_dim, yh + s.rope_dim, sizeof(float) * static_cast<size_t>(s.head_dim - s.rope_dim)))
              << "head " << h;
        }
        if (pos == 0) {
          for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]) << "position 0 is the identity, element " << i;
        }
      }
    }
  }
}

// Random gates and ups for a gated activation, then the given edge-case gates.
std::pair<std::vector<float>, std::vector<float>> gated_inputs(std::mt19937& rng, std::initializer_list<float> edges) {
  std::vector<float> gate = normal_floats(rng, 4099, 4.0f), up = normal_floats(rng, 4099);
  for (float g : edges) {
    gate.push_back(g);
    up.push_back(uniform(rng, -2.0f, 2.0f));
  }
  return {gate, up};
}

TEST(CpuOpsElementwise, Swiglu) {
  STRATA_SEEDED_RNG(rng);
  const auto [gate, up] = gated_inputs(rng, {-100.0f, -88.0f, -20.0f, -1e-30f, 0.0f, 1e-30f, 20.0f, 88.0f, 100.0f});
  std::vector<float> out(gate.size());
  swiglu(gate.data(), up.data(), out.data(), static_cast<int64_t>(gate.size()));
  std::vector<double> ref(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    ref[i] = g / (1.0 + std::exp(-g)) * up[i];
    EXPECT_NEAR(out[i], ref[i], 8 * kFloatEps * std::fabs(ref[i]) + 1e-35) << "gate " << gate[i] << " up " << up[i];
  }
  EXPECT_LT(rel_norm(out, ref), 1e-6);
}

TEST(CpuOpsElementwise, RopeSplitHalvesIsAdjacentPairsOnInterleavedDimensions) {
  STRATA_SEEDED_RNG(rng);
  const int n_heads = 3, head_dim = 256;
  for (int rope_dim : {256, 128}) {
    for (int64_t pos : {0, 5, 511, 4095}) {
      SCOPED_TRACE("rope_dim " + std::to_string(rope_dim) + " pos " + std::to_string(pos));
      const int half = rope_dim / 2;
      const std::vector<float> x = normal_floats(rng, static_cast<size_t>(n_heads * head_dim));
      // Dimension i of a half-split head is dimension 2i (i < half) or 2(i - half) + 1 interleaved.
      auto interleaved_index = [&](int i) { return i < half ? 2 * i : i < rope_dim ? 2 * (i - half) + 1 : i; };
      std::vector<float> halves = x, pairs(x.size());
      for (int h = 0; h < n_heads; ++h) {
        for (int i = 0; i < head_dim; ++i) pairs[static_cast<size_t>(h * head_dim + interleaved_index(i))] = x[static_cast<size_t>(h * head_dim + i)];
      }
      rope_split_halves(halves.data(), n_heads, head_dim, rope_dim, pos, 1000000.0f);
      rope_adjacent_pairs(pairs.data(), n_heads, head_dim, rope_dim, pos, 1000000.0f);
      for (int h = 0; h < n_heads; ++h) {
        for (int i = 0; i < head_dim; ++i) {
          EXPECT_EQ(halves[static_cast<size_t>(h * head_dim + i)], pairs[static_cast<size_t>(h * head_dim + interleaved_index(i))])
              << "head " << h << " dim " << i;
        }
      }
    }
  }
}

TEST(CpuOpsElementwise, RopeFreqScaleScalesThePosition) {
  STRATA_SEEDED_RNG(rng);
  const std::vector<float> x = normal_floats(rng, 2 * 128);
  std::vector<float> scaled = x, halfway = x;
  rope_split_halves(scaled.data(), 2, 128, 128, 1000, 10000.0f, 0.5f);
  rope_split_halves(halfway.data(), 2, 128, 128, 500, 10000.0f);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(scaled[i], halfway[i], 1e-4f) << i;
}

TEST(CpuOpsElementwise, GegluTanh) {
  STRATA_SEEDED_RNG(rng);
  const auto [gate, up] = gated_inputs(rng, {-100.0f, -10.0f, -9.99f, -1e-30f, 0.0f, 1e-30f, 9.99f, 10.0f, 100.0f});
  std::vector<float> out(gate.size());
  geglu_tanh(gate.data(), up.data(), out.data(), static_cast<int64_t>(gate.size()));
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    const double gelu = 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * g * (1.0 + 0.044715 * g * g)));
    // The gate is rounded to fp16 (|gelu'| < 1.13) and the looked-up value again: 2^-11 each.
    const double tol = ((1.13 * std::fabs(g) + std::fabs(gelu)) / 2048.0 + 1e-7) * std::fabs(up[i]);
    EXPECT_NEAR(out[i], gelu * up[i], tol) << "gate " << gate[i] << " up " << up[i];
    if (std::fabs(g) >= 10.0) {
      EXPECT_EQ(out[i], (g > 0 ? gate[i] : 0.0f) * up[i]) << "exact beyond +-10";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// attention_one_query over a paged fp16 KV cache

// K or V of one sequence scattered over shuffled physical blocks; slots that hold no key of the
// sequence are fp16 NaN so a read outside the first n_keys positions poisons the result.
struct PagedKv {
  std::vector<uint16_t> storage;
  std::vector<int32_t> table;
  PagedKvView view{};

  PagedKv(const std::vector<uint16_t>& rows, int64_t n_keys, int64_t token_stride, int32_t block_size, std::mt19937& rng) {
    const int64_t n_blocks = (n_keys + block_size - 1) / block_size;
    const int64_t n_physical = n_blocks + 3;
    const int64_t block_stride = block_size * token_stride;
    storage.assign(static_cast<size_t>(n_physical * block_stride), 0x7e00);
    std::vector<int32_t> physical(static_cast<size_t>(n_physical));
    for (size_t i = 0; i < physical.size(); ++i) physical[i] = static_cast<int32_t>(i);
    std::shuffle(physical.begin(), physical.end(), rng);
    table.assign(physical.begin(), physical.begin() + n_blocks);
    for (int64_t t = 0; t < n_keys; ++t) {
      std::copy_n(rows.begin() + t * token_stride, token_stride,
                  storage.begin() + table[static_cast<size_t>(t / block_size)] * block_stride + (t % block_size) * token_stride);
    }
    view = PagedKvView{storage.data(), table.data(), block_size, block_stride, token_stride};
  }
};

// A sliding window: keys before first_key take no part (poisoning them changes nothing), and the
// result is the attention over the remaining keys alone.
TEST(CpuOpsAttention, KeysBeforeTheWindowAreMasked) {
  STRATA_SEEDED_RNG(rng);
  const int n_heads = 4, n_kv_heads = 1, head_dim = 256;
  const int64_t n_keys = 200, token_stride = head_dim;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> k_rows(static_cast<size_t>(n_keys * token_stride)), v_rows(k_rows.size());
  for (auto& h : k_rows) h = f32_to_fp16(normal(rng));
  for (auto& h : v_rows) h = f32_to_fp16(normal(rng));
  const std::vector<float> q = normal_floats(rng, static_cast<size_t>(n_heads * head_dim));
  for (int64_t first_key : {1, 16, 37, 199}) {
    SCOPED_TRACE("first_key " + std::to_string(first_key));
    std::vector<uint16_t> k_poisoned = k_rows, v_poisoned = v_rows;
    std::fill_n(k_poisoned.begin(), first_key * token_stride, uint16_t{0x7e00});  // fp16 NaN
    std::fill_n(v_poisoned.begin(), first_key * token_stride, uint16_t{0x7e00});
    const std::vector<uint16_t> k_tail(k_rows.begin() + first_key * token_stride, k_rows.end());
    const std::vector<uint16_t> v_tail(v_rows.begin() + first_key * token_stride, v_rows.end());
    PagedKv k(k_rows, n_keys, token_stride, 16, rng), v(v_rows, n_keys, token_stride, 16, rng);
    PagedKv kp(k_poisoned, n_keys, token_stride, 16, rng), vp(v_poisoned, n_keys, token_stride, 16, rng);
    PagedKv kt(k_tail, n_keys - first_key, token_stride, 16, rng), vt(v_tail, n_keys - first_key, token_stride, 16, rng);
    std::vector<float> out(q.size()), poisoned(q.size()), tail(q.size()), scores(static_cast<size_t>(n_keys));
    for (int h = 0; h < n_heads; ++h) {
      const attention::QueryKeys window{0, first_key, n_keys};
      attention_one_query(q.data(), k.view, v.view, window.ranges(), h, n_heads, n_kv_heads, head_dim, 0.0625f, scores.data(),
                          out.data());
      attention_one_query(q.data(), kp.view, vp.view, window.ranges(), h, n_heads, n_kv_heads, head_dim, 0.0625f, scores.data(),
                          poisoned.data());
      attention_one_query(q.data(), kt.view, vt.view, attention::QueryKeys{0, 0, n_keys - first_key}.ranges(), h, n_heads,
                          n_kv_heads, head_dim, 0.0625f, scores.data(), tail.data());
    }
    EXPECT_EQ(0, std::memcmp(out.data(), poisoned.data(), out.size() * sizeof(float)));
    EXPECT_LT(rel_norm(out, tail), 1e-3);  // the same keys; only the lanes of the sums differ
  }
}

// sink_window's mask: keys [0, sinks) and the last `window` keys. The result equals a double
// softmax over exactly those keys, and poisoning every other key (as a released block would be)
// changes nothing, bit for bit.
TEST(CpuOpsAttention, SinksAndWindowEqualADoubleSoftmaxOverTheReadKeys) {
  STRATA_SEEDED_RNG(rng);
  const int n_heads = 4, n_kv_heads = 2, head_dim = 64;
  const int64_t n_keys = 150, token_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
  const float scale = 0.125f;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> k_rows(static_cast<size_t>(n_keys * token_stride)), v_rows(k_rows.size());
  for (auto& h : k_rows) h = f32_to_fp16(normal(rng));
  for (auto& h : v_rows) h = f32_to_fp16(normal(rng));
  const std::vector<float> q = normal_floats(rng, static_cast<size_t>(n_heads * head_dim));
  for (const auto& [sinks, window] : std::vector<std::pair<int64_t, int64_t>>{{4, 20}, {1, 1}, {16, 33}, {0, 70}, {4, 150}, {40, 120}}) {
    SCOPED_TRACE("sinks " + std::to_string(sinks) + " window " + std::to_string(window));
    const attention::QueryKeys keys = attention::query_keys(n_keys - 1, sinks, window);
    std::vector<uint16_t> k_poisoned = k_rows, v_poisoned = v_rows;
    for (int64_t t = 0; t < n_keys; ++t) {
      if (keys.contains(t)) continue;
      std::fill_n(k_poisoned.begin() + t * token_stride, token_stride, uint16_t{0x7e00});  // fp16 NaN
      std::fill_n(v_poisoned.begin() + t * token_stride, token_stride, uint16_t{0x7e00});
    }
    PagedKv k(k_rows, n_keys, token_stride, 16, rng), v(v_rows, n_keys, token_stride, 16, rng);
    PagedKv kp(k_poisoned, n_keys, token_stride, 16, rng), vp(v_poisoned, n_keys, token_stride, 16, rng);
    std::vector<float> out(q.size()), poisoned(q.size()), scores(static_cast<size_t>(n_keys));
    for (int h = 0; h < n_heads; ++h) {
      attention_one_query(q.data(), k.view, v.view, keys.ranges(), h, n_heads, n_kv_heads, head_dim, scale, scores.data(), out.data());
      attention_one_query(q.data(), kp.view, vp.view, keys.ranges(), h, n_heads, n_kv_heads, head_dim, scale, scores.data(),
                          poisoned.data());
    }
    EXPECT_EQ(0, std::memcmp(out.data(), poisoned.data(), out.size() * sizeof(float)));
    for (int h = 0; h < n_heads; ++h) {
      const int kvh = h / (n_heads / n_kv_heads);
      std::vector<double> p(static_cast<size_t>(n_keys), 0.0);
      double mx = -INFINITY, sum = 0.0;
      for (int64_t t = 0; t < n_keys; ++t) {
        if (!keys.contains(t)) continue;
        double dot = 0.0;
        for (int d = 0; d < head_dim; ++d) {
          dot += static_cast<double>(round_half(q[static_cast<size_t>(h * head_dim + d)])) *
                 half_value(k_rows[static_cast<size_t>(t * token_stride + kvh * head_dim + d)]);
        }
        p[static_cast<size_t>(t)] = dot * scale;
        mx = std::max(mx, dot * scale);
      }
      for (int64_t t = 0; t < n_keys; ++t) {
        if (keys.contains(t)) sum += p[static_cast<size_t>(t)] = std::exp(p[static_cast<size_t>(t)] - mx);
      }
      std::vector<double> want(static_cast<size_t>(head_dim), 0.0);
      for (int64_t t = 0; t < n_keys; ++t) {
        if (!keys.contains(t)) continue;
        for (int d = 0; d < head_dim; ++d) {
          want[static_cast<size_t>(d)] += p[static_cast<size_t>(t)] / sum *
                                          half_value(v_rows[static_cast<size_t>(t * token_stride + kvh * head_dim + d)]);
        }
      }
      const std::vector<float> got(out.begin() + h * head_dim, out.begin() + (h + 1) * head_dim);
      EXPECT_LT(rel_norm(got, want), 2e-3) << "head " << h;  // fp16 softmax weights
    }
  }
}

TEST(CpuOpsAttention, GroupedQueryAttentionMatchesDoubleSoftmax) {
  STRATA_SEEDED_RNG(rng);
  const int n_heads = 8, n_kv_heads = 2;
  for (int head_dim : {64, 128}) {
    for (int64_t n_keys : {1, 5, 33, 200}) {
      for (float q_sigma : {1.0f, 4.0f}) {  // 4: peaked softmax (scores up to ~+-40)
        SCOPED_TRACE("head_dim " + std::to_string(head_dim) + " n_keys " + std::to_string(n_keys) + " q_sigma " +
                     std::to_string(q_sigma));
        const int64_t token_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
        std::vector<uint16_t> k_rows(static_cast<size_t>(n_keys * token_stride)), v_rows(k_rows.size());
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (auto& h : k_rows) h = f32_to_fp16(normal(rng));
        for (auto& h : v_rows) h = f32_to_fp16(normal(rng));
        const std::vector<float> q = normal_floats(rng, static_cast<size_t>(n_heads * head_dim), q_sigma);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

        // Reference: exact softmax attention in double on the same fp16 K/V. Per output element
        // it also gives mass[i] = sum_t p_t |v_t[d]|, the scale of every error below, and per
        // head the largest float error of a score (products of fp16 values are exact; sums of
        // head_dim/16 + 4 terms and the scaling round).
        struct Reference {
          std::vector<double> out, mass, score_err;
        };
        auto reference = [&](const std::vector<float>& qv) {
          Reference r{std::vector<double>(qv.size()), std::vector<double>(qv.size()), std::vector<double>(n_heads)};
          for (int h = 0; h < n_heads; ++h) {
            const int kvh = h / (n_heads / n_kv_heads);
            std::vector<double> p(static_cast<size_t>(n_keys));
            double mx = -INFINITY;
            for (int64_t t = 0; t < n_keys; ++t) {
              double dot = 0.0, abs_dot = 0.0;
              for (int d = 0; d < head_dim; ++d) {
                const double prod = static_cast<double>(qv[static_cast<size_t>(h * head_dim + d)]) *
                                    half_value(k_rows[static_cast<size_t>(t * token_stride + kvh * head_dim + d)]);
                dot += prod;
                abs_dot += std::fabs(prod);
              }
              p[static_cast<size_t>(t)] = dot * scale;
              mx = std::max(mx, p[static_cast<size_t>(t)]);
              r.score_err[static_cast<size_t>(h)] = std::max(
                  r.score_err[static_cast<size_t>(h)], ((head_dim / 16 + 4) * abs_dot * scale + std::fabs(dot * scale)) * kFloatEps);
            }
            double sum = 0.0;
            for (double& x : p) sum += x = std::exp(x - mx);
            for (double& x : p) x /= sum;
            for (int d = 0; d < head_dim; ++d) {
              double acc = 0.0, mass = 0.0;
              for (int64_t t = 0; t < n_keys; ++t) {
                const double v_td = half_value(v_rows[static_cast<size_t>(t * token_stride + kvh * head_dim + d)]);
                acc += p[static_cast<size_t>(t)] * v_td;
                mass += p[static_cast<size_t>(t)] * std::fabs(v_td) + std::fabs(v_td) / (1 << 25);  // + subnormal-p rounding
              }
              r.out[static_cast<size_t>(h * head_dim + d)] = acc;
              r.mass[static_cast<size_t>(h * head_dim + d)] = mass;
            }
          }
          return r;
        };
        // The documented design: q rounded to fp16 before the products.
        std::vector<float> q_fp16(q.size());
        for (size_t i = 0; i < q.size(); ++i) q_fp16[i] = round_half(q[i]);
        const Reference ref_design = reference(q_fp16), ref_exact = reference(q);
        // Largest score change from rounding q, per head (max over keys of scale * sum |dq| |k|).
        std::vector<double> q_round_err(n_heads, 0.0);
        for (int h = 0; h < n_heads; ++h) {
          const int kvh = h / (n_heads / n_kv_heads);
          for (int64_t t = 0; t < n_keys; ++t) {
            double e = 0.0;
            for (int d = 0; d < head_dim; ++d) {
              const size_t qi = static_cast<size_t>(h * head_dim + d);
              e += std::fabs(static_cast<double>(q[qi]) - q_fp16[qi]) *
                   std::fabs(half_value(k_rows[static_cast<size_t>(t * token_stride + kvh * head_dim + d)]));
            }
            q_round_err[static_cast<size_t>(h)] = std::max(q_round_err[static_cast<size_t>(h)], e * scale);
          }
        }

        std::vector<float> first;  // output of the first layout, for bitwise comparison
        for (int32_t block_size : {1, 7, 16, 256}) {
          SCOPED_TRACE("block_size " + std::to_string(block_size));
          PagedKv k(k_rows, n_keys, token_stride, block_size, rng), v(v_rows, n_keys, token_stride, block_size, rng);
          std::vector<float> out(q.size(), NAN);
          std::vector<float> scores(static_cast<size_t>(n_keys));
          for (int h = 0; h < n_heads; ++h) {
            std::vector<float> before = out;
            attention_one_query(q.data(), k.view, v.view, attention::QueryKeys{0, 0, n_keys}.ranges(), h, n_heads, n_kv_heads,
                                head_dim, scale, scores.data(), out.data());
            // Only head h's slice is written.
            for (size_t i = 0; i < out.size(); ++i) {
              if (static_cast<int>(i) / head_dim != h) {
                EXPECT_EQ(0, std::memcmp(&out[i], &before[i], sizeof(float))) << i;
              }
            }
          }
          for (int h = 0; h < n_heads; ++h) {
            // A score error e_t moves p_t by a factor exp(e_t - sum p e) (<= 2 max|e| to first
            // order); rounding p to fp16 moves it by 2^-11; exp, the normalization and the
            // lane sums add a few float roundings per key block.
            const double float_err = 2.0 * ref_design.score_err[static_cast<size_t>(h)] +
                                     (static_cast<double>(n_keys) / 16 + 16) * kFloatEps;
            const double q_err = 2.0 * q_round_err[static_cast<size_t>(h)];
            for (int d = 0; d < head_dim; ++d) {
              const size_t i = static_cast<size_t>(h * head_dim + d);
              EXPECT_NEAR(out[i], ref_design.out[i], (1.0 / 2048 + float_err) * 1.01 * ref_design.mass[i])
                  << "head " << h << " dim " << d << " vs q rounded to fp16";
              EXPECT_NEAR(out[i], ref_exact.out[i], (1.0 / 2048 + float_err + q_err + q_err * q_err) * 1.01 * ref_exact.mass[i])
                  << "head " << h << " dim " << d << " vs exact q";
            }
            std::vector<float> got(out.begin() + h * head_dim, out.begin() + (h + 1) * head_dim);
            std::vector<double> want(ref_exact.out.begin() + h * head_dim, ref_exact.out.begin() + (h + 1) * head_dim);
            if (q_sigma == 1.0f) {
              EXPECT_LT(rel_norm(got, want), 2e-3) << "head " << h;
            }
          }
          if (n_keys == 1) {  // a single key: the output is its value row, exactly
            for (int h = 0; h < n_heads; ++h) {
              for (int d = 0; d < head_dim; ++d) {
                EXPECT_EQ(out[static_cast<size_t>(h * head_dim + d)],
                          half_value(v_rows[static_cast<size_t>((h / (n_heads / n_kv_heads)) * head_dim + d)]));
              }
            }
          }
          if (first.empty()) {
            first = out;
          } else {
            EXPECT_EQ(0, std::memcmp(first.data(), out.data(), out.size() * sizeof(float)))
                << "the result depends on the block layout";
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ThreadPool

TEST(ThreadPool, SizeCountsTheCaller) {
  EXPECT_EQ(ThreadPool(1).size(), 1);
  EXPECT_EQ(ThreadPool(3).size(), 3);
  EXPECT_EQ(ThreadPool(0).size(), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(ThreadPool, ParallelForCoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000, 4097}) {
      for (auto [grain, per_thread] : {std::pair<int64_t, int>{0, 1}, {1, 1}, {2, 1}, {3, 1}, {7, 1}, {64, 1}, {5000, 1},
                                       {1, kUnevenChunksPerThread}, {3, kUnevenChunksPerThread}}) {
        SCOPED_TRACE("threads " + std::to_string(threads) + " n " + std::to_string(n) + " grain " + std::to_string(grain) +
                     " chunks a thread " + std::to_string(per_thread));
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        pool.parallel_for(
            n, grain,
            [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
              std::lock_guard<std::mutex> lock(mu);
              chunks.emplace_back(b, e);
            },
            per_thread);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "index " << i;
        std::sort(chunks.begin(), chunks.end());
        int64_t next = 0;
        for (auto [b, e] : chunks) {
          EXPECT_EQ(b, next);
          EXPECT_LT(b, e) << "empty chunk";
          // Chunks hold at least `grain` items, except the last one.
          if (e != n) {
            EXPECT_GE(e - b, grain);
          }
          next = e;
        }
        EXPECT_EQ(next, n);
        EXPECT_LE(chunks.size(), static_cast<size_t>(threads * per_thread));
      }
    }
  }
}

TEST(ThreadPool, RepeatedCallsAndWorkOnSeveralThreads) {
  for (int threads : {2, 4}) {
    ThreadPool pool(threads);
    for (int call = 0; call < 2000; ++call) {
      const int64_t n = 1 + call % 37;
      std::atomic<int64_t> sum{0};
      pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
        int64_t s = 0;
        for (int64_t i = b; i < e; ++i) s += i + 1;
        sum.fetch_add(s);
      });
      ASSERT_EQ(sum.load(), n * (n + 1) / 2) << "threads " << threads << " call " << call;
    }
    // Items that take a while spread over the threads as they come for chunks.
    std::mutex mu;
    std::set<std::thread::id> ids;
    pool.parallel_for(4 * threads, 1, [&](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(std::this_thread::get_id());
    });
    EXPECT_GT(ids.size(), 1u);
  }
}

// ---------------------------------------------------------------------------------------------
// fp16 / bf16 conversions

// The value of half bit pattern h, from the IEEE 754 binary16 definition.
double half_reference_value(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  if (exp == 0x1f) v = mant == 0 ? INFINITY : NAN;
  return sign ? -v : v;
}

// Round-to-nearest-even of x to a format with `mant_bits` stored mantissa bits, minimum normal
// exponent `min_exp` (value 2^min_exp) and largest finite value `max_finite`, computed exactly in
// double: |x| / ulp is exact, nearbyint rounds ties to even. Returns the rounded magnitude.
double round_to_format(float x, int mant_bits, int min_exp, double max_finite) {
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0.0) return 0.0;
  int e;
  std::frexp(a, &e);  // a in [2^(e-1), 2^e)
  const int exp = std::max(e - 1, min_exp);
  const double ulp = std::ldexp(1.0, exp - mant_bits);
  const double r = std::nearbyint(a / ulp) * ulp;
  // Past the largest finite value by half an ulp or more (ties round to the even 2^emax+1): inf.
  return r > max_finite ? INFINITY : r;
}

uint16_t half_reference(float x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x)) return static_cast<uint16_t>(sign | 0x7e00);
  const double r = round_to_format(x, 10, -14, 65504.0);
  if (std::isinf(r)) return static_cast<uint16_t>(sign | 0x7c00);
  if (r < std::ldexp(1.0, -14)) return static_cast<uint16_t>(sign | static_cast<uint16_t>(r * (1 << 24)));  // subnormal
  int e;
  const double m = std::frexp(r, &e);  // r = m * 2^e, m in [0.5, 1)
  return static_cast<uint16_t>(sign | ((e - 1 + 15) << 10) | (static_cast<int>(m * 2048) - 1024));
}

uint16_t bf16_reference(float x) {
  uint32_t bits;
  if (std::isnan(x)) {
    std::memcpy(&bits, &x, 4);
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  }
  const double r = round_to_format(x, 7, -126, std::ldexp(255.0, 120));  // max bf16 = (2 - 2^-7) * 2^127
  float rf = std::signbit(x) ? -static_cast<float>(r) : static_cast<float>(r);  // exact: 8 significant bits
  std::memcpy(&bits, &rf, 4);
  return static_cast<uint16_t>(bits >> 16);
}

bool half_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(Half, Fp16ToF32IsExactForAllPatterns) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = fp16_to_f32(h);
    const double want = half_reference_value(h);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      EXPECT_EQ(bits >> 31, i >> 15) << std::hex << i;
      EXPECT_EQ(bits & 0x7fffffu, (i & 0x3ffu) << 13) << "payload of " << std::hex << i;
    } else {
      const float wf = static_cast<float>(want);
      uint32_t want_bits;
      std::memcpy(&want_bits, &wf, 4);
      ASSERT_EQ(bits, want_bits) << std::hex << i;  // bitwise: also the sign of zero
    }
  }
}

TEST(Half, RoundTripIsIdentityExceptNanPayloads) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const uint16_t back = f32_to_fp16(fp16_to_f32(h));
    if (half_is_nan(h)) {
      EXPECT_TRUE(half_is_nan(back)) << std::hex << i;
      EXPECT_EQ(back & 0x8000, h & 0x8000) << std::hex << i;
    } else {
      ASSERT_EQ(back, h) << std::hex << i;
    }
  }
}

TEST(Half, F32ToFp16RoundsEveryMidpointToEven) {
  // Between every two adjacent finite halves of one sign (subnormals included), the midpoint is
  // exact in float: it rounds to the even one, and its float neighbours to the nearer one.
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t lo = 0; lo < 0x7c00; ++lo) {
      const auto a = static_cast<uint16_t>(sign | lo), b = static_cast<uint16_t>(sign | (lo + 1));
      const float va = fp16_to_f32(a);
      const float vb = lo + 1 == 0x7c00 ? (sign ? -65536.0f : 65536.0f) : fp16_to_f32(b);  // inf: 2^16 as the next step
      const float mid = static_cast<float>((static_cast<double>(va) + vb) / 2);
      ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(va) + vb) / 2);
      const uint16_t even = (lo & 1) ? b : a;
      ASSERT_EQ(f32_to_fp16(mid), even) << std::hex << "midpoint of " << a << " and " << b;
      ASSERT_EQ(f32_to_fp16(std::nextafter(mid, va)), a) << std::hex << "below the midpoint of " << a << " and " << b;
      ASSERT_EQ(f32_to_fp16(std::nextafter(mid, vb)), b) << std::hex << "above the midpoint of " << a << " and " << b;
    }
  }
}

TEST(Half, F32ToFp16SpecialValues) {
  EXPECT_EQ(f32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_fp16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_fp16(-INFINITY), 0xfc00);
  EXPECT_TRUE(half_is_nan(f32_to_fp16(NAN)));
  EXPECT_TRUE(half_is_nan(f32_to_fp16(-NAN)));
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_fp16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_fp16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_fp16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and it: even
  EXPECT_EQ(f32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_fp16(std::ldexp(3.0f, -26)), 0x0001);
  EXPECT_EQ(f32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_fp16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_fp16(std::nextafter(std::ldexp(1.0f, -14), 0.0f)), 0x0400);  // rounds up into the normals
  EXPECT_EQ(f32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_fp16(-2.0f), 0xc000);
}

TEST(Half, F32ToFp16MatchesExactRoundingOnRandomFloats) {
  STRATA_SEEDED_RNG(rng);
  for (int i = 0; i < 1000000; ++i) {
    float x;
    if (i % 2 == 0) {
      const uint32_t bits = static_cast<uint32_t>(rng());  // any float, NaN and inf included
      std::memcpy(&x, &bits, 4);
    } else {  // magnitudes where half has something to say: 2^-26 .. 2^17
      x = std::ldexp(uniform(rng, 1.0f, 2.0f), static_cast<int>(rng() % 44) - 26);
      if (rng() & 1) x = -x;
    }
    const uint16_t got = f32_to_fp16(x), want = half_reference(x);
    if (std::isnan(x)) {
      ASSERT_TRUE(half_is_nan(got)) << x;
      ASSERT_EQ(got & 0x8000, want & 0x8000) << x;
    } else {
      ASSERT_EQ(got, want) << std::hexfloat << x;
    }
#if defined(__FLT16_MANT_DIG__)
    if (!std::isnan(x)) {  // cross-check the reference with the compiler's conversion
      const _Float16 hw = static_cast<_Float16>(x);
      uint16_t hw_bits;
      std::memcpy(&hw_bits, &hw, 2);
      ASSERT_EQ(hw_bits, want) << std::hexfloat << x;
    }
#endif
  }
}

TEST(Half, Bf16ToF32AndRoundTripForAllPatterns) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto b = static_cast<uint16_t>(i);
    const float f = bf16_to_f32(b);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    ASSERT_EQ(bits, i << 16) << std::hex << i;
    const uint16_t back = f32_to_bf16(f);
    if (std::isnan(f)) {
      EXPECT_EQ(back, static_cast<uint16_t>(b | 0x40)) << std::hex << i;  // quieted, payload and sign kept
    } else {
      ASSERT_EQ(back, b) << std::hex << i;
    }
  }
}

TEST(Half, F32ToBf16RoundsEveryMidpointToEven) {
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t lo = 0; lo < 0x7f80; ++lo) {
      const auto a = static_cast<uint16_t>(sign | lo), b = static_cast<uint16_t>(sign | (lo + 1));
      // Midpoint: a's bits with bit 15 set (exact in float; for the largest finite value it is
      // the tie with infinity, which rounds to even: infinity).
      const uint32_t mid_bits = (static_cast<uint32_t>(a) << 16) | 0x8000u;
      float mid, below, above;
      const uint32_t below_bits = mid_bits - 1, above_bits = mid_bits + 1;
      std::memcpy(&mid, &mid_bits, 4);
      std::memcpy(&below, &below_bits, 4);
      std::memcpy(&above, &above_bits, 4);
      ASSERT_EQ(f32_to_bf16(mid), (lo & 1) ? b : a) << std::hex << a;
      ASSERT_EQ(f32_to_bf16(below), a) << std::hex << a;
      ASSERT_EQ(f32_to_bf16(above), b) << std::hex << a;
    }
  }
}

TEST(Half, F32ToBf16MatchesExactRoundingOnRandomFloats) {
  STRATA_SEEDED_RNG(rng);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_EQ(f32_to_bf16(-INFINITY), 0xff80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    float x;
    std::memcpy(&x, &bits, 4);
    ASSERT_EQ(f32_to_bf16(x), bf16_reference(x)) << std::hex << bits;
  }
}

}  // namespace
}  // namespace strata::cpu
