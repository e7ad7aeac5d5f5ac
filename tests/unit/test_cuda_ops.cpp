// Every CUDA op against the CPU op (or a double-precision reference) on fresh random data, with
// outputs poisoned first so an element a kernel forgets shows up as NaN. Runs where a GPU is;
// skips, saying why, where none is (CI).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "engine/common/half.h"
#include "engine/cpu/ops.h"
#include "engine/cuda/device.h"
#include "engine/cuda/device_array.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/ops.h"

namespace strata::cuda {
namespace {

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    auto query = query_devices();
    if (query.devices.empty()) GTEST_SKIP() << "no CUDA device: " << query.reason;
    seed_ = std::random_device{}();
  }
  std::vector<float> random(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng_);
    return v;
  }
  static std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
    std::vector<uint16_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = f32_to_bf16(v[i]);
    return out;
  }
  static std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_f32(v[i]);
    return out;
  }
  // ||a - b|| / ||b||; NaN anywhere fails.
  static double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(a[i])) return INFINITY;
      diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
      norm += static_cast<double>(b[i]) * b[i];
    }
    return std::sqrt(diff / std::max(norm, 1e-30));
  }
  static void sync() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

  uint32_t seed_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

TEST_F(CudaOps, RmsNormWithResidual) {
  SCOPED_TRACE(seed_);
  const int tokens = 7, dim = 576;
  auto x = random(tokens * dim, 3.0f), delta = random(tokens * dim), weight = random(dim);
  DeviceArray<float> d_x(x), d_delta(delta), d_w(weight);
  DeviceArray<uint16_t> d_out(tokens * dim);
  d_out.poison();
  rms_norm_residual(d_x.get(), d_delta.get(), d_w.get(), d_out.get(), tokens, dim, 1e-5f, nullptr);
  sync();
  std::vector<float> expected(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
  for (int t = 0; t < tokens; ++t) cpu::rms_norm(&x[t * dim], weight.data(), &expected[t * dim], dim, 1e-5f);
  EXPECT_EQ(d_x.download(), x);  // the residual sum is one float add, exact
  EXPECT_LT(relative_error(from_bf16(d_out.download()), expected), 1e-2);
}

TEST_F(CudaOps, EmbedAndSwiglu) {
  SCOPED_TRACE(seed_);
  const int vocab = 100, dim = 96;
  auto table = to_bf16(random(vocab * dim));
  std::vector<int32_t> tokens = {5, 0, 99, 5, 42};
  DeviceArray<uint16_t> d_table(table);
  DeviceArray<int32_t> d_tokens(tokens);
  DeviceArray<float> d_hidden(tokens.size() * dim);
  d_hidden.poison();
  embed(d_table.get(), d_tokens.get(), d_hidden.get(), static_cast<int>(tokens.size()), dim, nullptr);
  const int64_t n = 10007;
  auto gate = random(n, 2.0f), up = random(n);
  DeviceArray<float> d_gate(gate), d_up(up);
  DeviceArray<uint16_t> d_act(n);
  d_act.poison();
  swiglu(d_gate.get(), d_up.get(), d_act.get(), n, nullptr);
  sync();
  auto hidden = d_hidden.download();
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (int i = 0; i < dim; ++i) ASSERT_EQ(hidden[t * dim + i], bf16_to_f32(table[tokens[t] * dim + i]));
  }
  std::vector<float> expected(n);
  cpu::swiglu(gate.data(), up.data(), expected.data(), n);
  EXPECT_LT(relative_error(from_bf16(d_act.download()), expected), 1e-2);
}

TEST_F(CudaOps, RopeAndPagedKvWrite) {
  SCOPED_TRACE(seed_);
  for (auto [head_dim, rope_dim] : {std::pair{64, 64}, std::pair{128, 64}}) {
    const int tokens = 5, n_heads = 6, n_kv_heads = 2, block_size = 4, n_blocks = 8;
    auto q = random(tokens * n_heads * head_dim), k = random(tokens * n_kv_heads * head_dim),
         v = random(tokens * n_kv_heads * head_dim);
    std::vector<int32_t> positions = {0, 1, 7, 100, 2047}, slots = {3, 17, 30, 8, 0};
    DeviceArray<float> d_q(q), d_k(k), d_v(v);
    DeviceArray<int32_t> d_pos(positions), d_slots(slots);
    const size_t row = static_cast<size_t>(n_kv_heads) * head_dim;
    DeviceArray<uint16_t> k_cache(n_blocks * block_size * row), v_cache(n_blocks * block_size * row);
    k_cache.poison();
    v_cache.poison();
    rope_kv_write(d_q.get(), d_k.get(), d_v.get(), d_pos.get(), d_slots.get(), k_cache.get(), v_cache.get(),
                  {tokens, n_heads, n_kv_heads, head_dim, rope_dim, 10000.0f}, nullptr);
    sync();
    auto got_q = d_q.download();
    auto got_k = k_cache.download(), got_v = v_cache.download();
    for (int t = 0; t < tokens; ++t) {
      cpu::rope_adjacent_pairs(&q[t * n_heads * head_dim], n_heads, head_dim, rope_dim, positions[t], 10000.0f);
      cpu::rope_adjacent_pairs(&k[t * row], n_kv_heads, head_dim, rope_dim, positions[t], 10000.0f);
      for (size_t j = 0; j < row; ++j) {
        // fp16 of nearly the same float: equal or one ulp apart.
        EXPECT_LE(std::abs(fp16_to_f32(got_k[slots[t] * row + j]) - k[t * row + j]), 2e-3f * (1.0f + std::abs(k[t * row + j])));
        EXPECT_EQ(got_v[slots[t] * row + j], f32_to_fp16(v[t * row + j]));
      }
    }
    EXPECT_LT(relative_error(got_q, q), 1e-4);  // large positions: sincos of large angles differ slightly
  }
}

TEST_F(CudaOps, PagedAttentionMatchesCpuAcrossPagesRaggedLengthsAndGqa) {
  SCOPED_TRACE(seed_);
  for (int head_dim : {64, 128}) {
    for (auto [n_heads, n_kv_heads] : {std::pair{8, 8}, std::pair{9, 3}, std::pair{8, 1}}) {
      for (int block_size : {1, 16, 32}) {
        const std::vector<int> lengths = {1, 5, 33, 130};  // keys of each sequence (one query each: its last)
        const int max_blocks = (130 + block_size - 1) / block_size;
        const int n_blocks = max_blocks * static_cast<int>(lengths.size());
        const size_t row = static_cast<size_t>(n_kv_heads) * head_dim;
        // Scattered blocks: a random permutation shared out among the sequences.
        std::vector<int32_t> blocks(n_blocks);
        std::iota(blocks.begin(), blocks.end(), 0);
        std::shuffle(blocks.begin(), blocks.end(), rng_);
        std::vector<int32_t> tables(lengths.size() * max_blocks);
        std::copy(blocks.begin(), blocks.end(), tables.begin());
        std::vector<uint16_t> k_cache(n_blocks * block_size * row), v_cache(k_cache.size());
        for (auto& x : k_cache) x = f32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
        for (auto& x : v_cache) x = f32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
        const int tokens = static_cast<int>(lengths.size());
        auto q = random(tokens * n_heads * head_dim);
        std::vector<int32_t> token_sequence(tokens), token_keys(lengths.begin(), lengths.end());
        std::iota(token_sequence.begin(), token_sequence.end(), 0);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

        DeviceArray<float> d_q(q), d_lse(tokens * n_heads);
        DeviceArray<uint16_t> d_k(k_cache), d_v(v_cache), d_out(tokens * n_heads * head_dim);
        DeviceArray<int32_t> d_tables(tables), d_seq(token_sequence), d_keys(token_keys);
        d_out.poison();
        paged_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_seq.get(), d_keys.get(), d_out.get(),
                        d_lse.get(), {tokens, n_heads, n_kv_heads, head_dim, block_size, max_blocks, scale}, nullptr);
        sync();
        std::vector<float> expected(q.size()), scores(256);
        for (int t = 0; t < tokens; ++t) {
          const cpu::PagedKvView kv_k{k_cache.data(), &tables[t * max_blocks], block_size,
                                      static_cast<int64_t>(block_size * row), static_cast<int64_t>(row)};
          cpu::PagedKvView kv_v = kv_k;
          kv_v.base = v_cache.data();
          for (int h = 0; h < n_heads; ++h) {
            cpu::attention_one_query(&q[t * n_heads * head_dim], kv_k, kv_v, 0, lengths[t], h, n_heads, n_kv_heads,
                                     head_dim, scale, scores.data(), &expected[t * n_heads * head_dim]);
          }
        }
        SCOPED_TRACE("head_dim " + std::to_string(head_dim) + " heads " + std::to_string(n_heads) + "/" +
                     std::to_string(n_kv_heads) + " block " + std::to_string(block_size));
        EXPECT_LT(relative_error(from_bf16(d_out.download()), expected), 1e-2);
        for (float lse : d_lse.download()) EXPECT_TRUE(std::isfinite(lse));
      }
    }
  }
}

TEST_F(CudaOps, GemmMatchesDoubleReference) {
  SCOPED_TRACE(seed_);
  const int n = 5, in = 576, out = 192;
  auto x = to_bf16(random(n * in)), w = to_bf16(random(out * in, 0.05f));
  DeviceArray<uint16_t> d_x(x), d_w(w);
  DeviceArray<float> d_y(n * out);
  d_y.poison();
  Gemm gemm;
  gemm.linear(d_x.get(), d_w.get(), d_y.get(), n, in, out, nullptr);
  sync();
  std::vector<float> expected(n * out);
  for (int t = 0; t < n; ++t) {
    for (int o = 0; o < out; ++o) {
      double sum = 0.0;
      for (int i = 0; i < in; ++i) sum += static_cast<double>(bf16_to_f32(x[t * in + i])) * bf16_to_f32(w[o * in + i]);
      expected[t * out + o] = static_cast<float>(sum);
    }
  }
  EXPECT_LT(relative_error(d_y.download(), expected), 1e-5);
}

}  // namespace
}  // namespace strata::cuda
