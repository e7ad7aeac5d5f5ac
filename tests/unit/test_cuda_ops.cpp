// Every CUDA op against the CPU op (or a double-precision reference) on fresh random data, with
// outputs poisoned first so an element a kernel forgets shows up as NaN. Runs where a GPU is;
// skips, saying why, where none is (CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>
#include <random>

#include "engine/attention/page_selection.h"
#include "engine/common/half.h"
#include "engine/cpu/ops.h"
#include "engine/cuda/device.h"
#include "engine/cuda/device_array.h"
#include "engine/attention/eviction.h"
#include "engine/cuda/eviction_ops.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/gpu_sampler.h"
#include "engine/sampling/sample_row.h"
#include "engine/cuda/ops.h"
#include "engine/model/step_page_selection.h"

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

  // Sequences of the given key counts over scattered cache blocks (a random permutation shared
  // out among them) of random fp16 keys and values (rows of `row` values), and query tokens at
  // the last 3 positions of each sequence (fewer when it is shorter).
  struct PagedCase {
    int block_size = 0, max_blocks = 0;
    size_t row = 0;
    std::vector<int32_t> tables, token_table, token_keys;
    std::vector<uint16_t> k_cache, v_cache;
    // Offset of a sequence's key in the caches.
    size_t offset(int seq, int key) const {
      return (static_cast<size_t>(tables[static_cast<size_t>(seq) * max_blocks + key / block_size]) * block_size + key % block_size) * row;
    }
  };
  PagedCase paged_case(const std::vector<int>& lengths, int block_size, size_t row) {
    PagedCase c;
    c.block_size = block_size;
    c.row = row;
    const int n_seqs = static_cast<int>(lengths.size());
    int n_blocks = 0;
    for (int length : lengths) {
      n_blocks += (length + block_size - 1) / block_size;
      c.max_blocks = std::max(c.max_blocks, (length + block_size - 1) / block_size);
    }
    std::vector<int32_t> blocks(n_blocks);
    std::iota(blocks.begin(), blocks.end(), 0);
    std::shuffle(blocks.begin(), blocks.end(), rng_);
    c.tables.assign(static_cast<size_t>(n_seqs) * c.max_blocks, 0);
    for (int i = 0, next = 0; i < n_seqs; ++i) {
      for (int b = 0; b < (lengths[i] + block_size - 1) / block_size; ++b) c.tables[i * c.max_blocks + b] = blocks[next++];
    }
    c.k_cache.resize(static_cast<size_t>(n_blocks) * block_size * row);
    c.v_cache.resize(c.k_cache.size());
    for (auto& x : c.k_cache) x = f32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
    for (auto& x : c.v_cache) x = f32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
    for (int i = 0; i < n_seqs; ++i) {
      for (int keys = std::max(1, lengths[i] - 2); keys <= lengths[i]; ++keys) {
        c.token_table.push_back(i);
        c.token_keys.push_back(keys);
      }
    }
    return c;
  }

  // Each token's attention, every query head, over exactly the keys keys_of(t, kv_head) lists,
  // in double precision; q as in a fused qkv row of q_stride floats.
  template <typename KeysOf>
  static std::vector<float> double_attention(const PagedCase& c, const std::vector<float>& q, int q_stride, int n_heads,
                                             int n_kv_heads, int head_dim, float scale, KeysOf keys_of) {
    const int tokens = static_cast<int>(c.token_keys.size());
    std::vector<float> out(static_cast<size_t>(tokens) * n_heads * head_dim);
    for (int t = 0; t < tokens; ++t) {
      for (int h = 0; h < n_heads; ++h) {
        const int kv_head = h / (n_heads / n_kv_heads);
        const std::vector<int> keys = keys_of(t, kv_head);
        std::vector<double> weights;
        double m = -INFINITY;
        for (int key : keys) {
          const size_t offset = c.offset(c.token_table[t], key) + static_cast<size_t>(kv_head) * head_dim;
          double dot = 0.0;
          for (int e = 0; e < head_dim; ++e) dot += static_cast<double>(q[t * q_stride + h * head_dim + e]) * fp16_to_f32(c.k_cache[offset + e]);
          weights.push_back(dot * scale);
          m = std::max(m, weights.back());
        }
        double total = 0.0;
        for (auto& w : weights) total += (w = std::exp(w - m));
        for (int e = 0; e < head_dim; ++e) {
          double acc = 0.0;
          for (size_t j = 0; j < keys.size(); ++j) {
            acc += weights[j] * fp16_to_f32(c.v_cache[c.offset(c.token_table[t], keys[j]) + static_cast<size_t>(kv_head) * head_dim + e]);
          }
          out[(static_cast<size_t>(t) * n_heads + h) * head_dim + e] = static_cast<float>(acc / total);
        }
      }
    }
    return out;
  }

  uint32_t seed_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

TEST_F(CudaOps, RmsNorm) {
  SCOPED_TRACE(seed_);
  const int tokens = 7, dim = 576;
  auto x = random(tokens * dim, 3.0f), weight = random(dim);
  DeviceArray<float> d_x(x), d_w(weight);
  DeviceArray<uint16_t> d_out(tokens * dim);
  d_out.poison();
  rms_norm(d_x.get(), d_w.get(), d_out.get(), tokens, dim, 1e-5f, nullptr);
  sync();
  std::vector<float> expected(x.size());
  for (int t = 0; t < tokens; ++t) cpu::rms_norm(&x[t * dim], weight.data(), &expected[t * dim], dim, 1e-5f);
  EXPECT_LT(relative_error(from_bf16(d_out.download()), expected), 1e-2);

  // residual += rmsnorm(y) * weight (post-norms)
  auto y = random(tokens * dim, 2.0f), residual = random(tokens * dim);
  DeviceArray<float> d_y(y), d_residual(residual);
  norm_add(d_y.get(), d_w.get(), d_residual.get(), tokens, dim, 1e-6f, nullptr);
  sync();
  std::vector<float> normed(y.size());
  for (int t = 0; t < tokens; ++t) cpu::rms_norm(&y[t * dim], weight.data(), &normed[t * dim], dim, 1e-6f);
  for (size_t i = 0; i < residual.size(); ++i) residual[i] += normed[i];
  EXPECT_LT(relative_error(d_residual.download(), residual), 1e-5);
}

// QK-norm: every q and k head of fused qkv rows normalized in place, v untouched.
TEST_F(CudaOps, HeadRmsNorm) {
  SCOPED_TRACE(seed_);
  const int tokens = 5, n_heads = 4, n_kv_heads = 1, head_dim = 256, stride = (n_heads + 2 * n_kv_heads) * head_dim;
  auto qkv = random(static_cast<size_t>(tokens) * stride, 3.0f), q_w = random(head_dim), k_w = random(head_dim);
  DeviceArray<float> d_qkv(qkv), d_q_w(q_w), d_k_w(k_w);
  head_rms_norm(d_qkv.get(), d_q_w.get(), d_k_w.get(), tokens, n_heads, n_kv_heads, head_dim, 1e-6f, nullptr);
  sync();
  auto want = qkv;
  for (int t = 0; t < tokens; ++t) {
    for (int h = 0; h < n_heads + n_kv_heads; ++h) {
      float* head = &want[static_cast<size_t>(t) * stride + static_cast<size_t>(h) * head_dim];
      cpu::rms_norm(head, (h < n_heads ? q_w : k_w).data(), head, head_dim, 1e-6f);
    }
  }
  EXPECT_LT(relative_error(d_qkv.download(), want), 1e-5);
}

TEST_F(CudaOps, EmbedGatherAndGatedActivations) {
  SCOPED_TRACE(seed_);
  const int vocab = 100, dim = 96;
  auto table = to_bf16(random(vocab * dim));
  std::vector<int32_t> tokens = {5, 0, 99, 5, 42}, rows = {4, 0, 4};
  DeviceArray<uint16_t> d_table(table);
  DeviceArray<int32_t> d_tokens(tokens), d_rows(rows);
  DeviceArray<float> d_hidden(tokens.size() * dim), d_gathered(rows.size() * dim);
  d_hidden.poison();
  d_gathered.poison();
  embed(d_table.get(), d_tokens.get(), d_hidden.get(), static_cast<int>(tokens.size()), dim, 0.5f, nullptr);
  gather_rows(d_hidden.get(), d_rows.get(), d_gathered.get(), static_cast<int>(rows.size()), dim, nullptr);
  const int n_tokens = 7, n_ff = 1531;
  auto gate_up = random(static_cast<size_t>(n_tokens) * 2 * n_ff, 2.0f);
  DeviceArray<float> d_gate_up(gate_up);
  DeviceArray<uint16_t> d_act(static_cast<size_t>(n_tokens) * n_ff), d_gelu(static_cast<size_t>(n_tokens) * n_ff);
  d_act.poison();
  d_gelu.poison();
  gated_activation(d_gate_up.get(), d_act.get(), n_tokens, n_ff, GatedActivation::kSilu, nullptr);
  gated_activation(d_gate_up.get(), d_gelu.get(), n_tokens, n_ff, GatedActivation::kGeluTanh, nullptr);
  sync();
  auto hidden = d_hidden.download(), gathered = d_gathered.download();
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (int i = 0; i < dim; ++i) ASSERT_EQ(hidden[t * dim + i], bf16_to_f32(table[tokens[t] * dim + i]) * 0.5f);
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int i = 0; i < dim; ++i) ASSERT_EQ(gathered[r * dim + i], hidden[rows[r] * dim + i]);
  }
  std::vector<float> expected(static_cast<size_t>(n_tokens) * n_ff), expected_gelu(expected.size());
  for (int t = 0; t < n_tokens; ++t) {
    cpu::swiglu(&gate_up[t * 2 * n_ff], &gate_up[t * 2 * n_ff + n_ff], &expected[t * n_ff], n_ff);
    cpu::geglu_tanh(&gate_up[t * 2 * n_ff], &gate_up[t * 2 * n_ff + n_ff], &expected_gelu[t * n_ff], n_ff);
  }
  EXPECT_LT(relative_error(from_bf16(d_act.download()), expected), 1e-2);
  EXPECT_LT(relative_error(from_bf16(d_gelu.download()), expected_gelu), 1e-2);
}

TEST_F(CudaOps, RopeAndPagedKvWrite) {
  SCOPED_TRACE(seed_);
  for (auto [head_dim, rope_dim, halves] : {std::tuple{64, 64, false}, std::tuple{128, 64, false}, std::tuple{256, 256, true},
                                            std::tuple{128, 64, true}}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim) + " rope_dim " + std::to_string(rope_dim) + (halves ? " halves" : ""));
    const int tokens = 5, n_heads = 6, n_kv_heads = 2, block_size = 4, n_blocks = 8;
    const float freq_scale = halves ? 0.125f : 1.0f, q_scale = halves ? 0.0625f : 1.0f;
    const auto rope = halves ? cpu::rope_split_halves : cpu::rope_adjacent_pairs;
    const int q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim, stride = q_dim + 2 * kv_dim;
    auto qkv = random(static_cast<size_t>(tokens) * stride);
    std::vector<int32_t> positions = {0, 1, 7, 100, 2047}, slots = {3, 17, 30, 8, 0};
    DeviceArray<float> d_qkv(qkv);
    DeviceArray<int32_t> d_pos(positions), d_slots(slots);
    const size_t row = static_cast<size_t>(kv_dim);
    DeviceArray<uint16_t> k_cache(n_blocks * block_size * row), v_cache(n_blocks * block_size * row);
    k_cache.poison();
    v_cache.poison();
    rope_kv_write(d_qkv.get(), d_pos.get(), d_slots.get(), k_cache.get(), v_cache.get(),
                  {tokens, n_heads, n_kv_heads, head_dim, rope_dim, 10000.0f, halves, freq_scale, q_scale}, nullptr);
    sync();
    auto got_qkv = d_qkv.download();
    auto got_k = k_cache.download(), got_v = v_cache.download();
    std::vector<float> got_q, want_q;
    for (int t = 0; t < tokens; ++t) {
      float* q = &qkv[t * stride];
      float* k = q + q_dim;
      const float* v = k + kv_dim;
      rope(q, n_heads, head_dim, rope_dim, positions[t], 10000.0f, freq_scale);
      rope(k, n_kv_heads, head_dim, rope_dim, positions[t], 10000.0f, freq_scale);
      for (int j = 0; j < q_dim; ++j) q[j] *= q_scale;
      want_q.insert(want_q.end(), q, q + q_dim);
      got_q.insert(got_q.end(), &got_qkv[t * stride], &got_qkv[t * stride] + q_dim);
      for (size_t j = 0; j < row; ++j) {
        // fp16 of nearly the same float: equal or one ulp apart.
        EXPECT_LE(std::abs(fp16_to_f32(got_k[slots[t] * row + j]) - k[j]), 2e-3f * (1.0f + std::abs(k[j])));
        EXPECT_EQ(got_v[slots[t] * row + j], f32_to_fp16(v[j]));
      }
    }
    EXPECT_LT(relative_error(got_q, want_q), 1e-4);  // large positions: sincos of large angles differ slightly
  }
}

// Causal queries (the last three positions of each sequence) over scattered pages, from one key
// to more than the largest split count covers at 256 keys a split; each token's result must not
// depend on the batch, so the same tokens alone (a grid of fewer splits) give the same bits.
TEST_F(CudaOps, PagedAttentionMatchesCpuAcrossPagesRaggedLengthsGqaAndSplits) {
  SCOPED_TRACE(seed_);
  for (int head_dim : {64, 128, 256}) {
    for (auto [n_heads, n_kv_heads] : {std::pair{8, 8}, std::pair{9, 3}, std::pair{8, 2}, std::pair{8, 1}}) {
      for (int block_size : {1, 16, 32}) {
        // Keys of each sequence; 4,700 keys take 19 splits of 256, more than the 18 of 512 that
        // 9,000 take: the grid must hold the most any row takes.
        const std::vector<int> lengths = {1, 5, 33, 130, 300, 4700, 9000};
        const int longest = lengths.back();
        const size_t row = static_cast<size_t>(n_kv_heads) * head_dim;
        const PagedCase c = paged_case(lengths, block_size, row);
        const int max_blocks = c.max_blocks;
        const auto &tables = c.tables, &token_table = c.token_table, &token_keys = c.token_keys;
        const auto &k_cache = c.k_cache, &v_cache = c.v_cache;
        const int tokens = static_cast<int>(token_keys.size());
        const int q_stride = (n_heads + 2 * n_kv_heads) * head_dim;  // q inside a fused qkv row
        auto q = random(static_cast<size_t>(tokens) * q_stride);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

        std::vector<float> expected(static_cast<size_t>(tokens) * n_heads * head_dim), scores(longest);
        std::vector<double> expected_lse(static_cast<size_t>(tokens) * n_heads);
        for (int t = 0; t < tokens; ++t) {
          const cpu::PagedKvView kv_k{k_cache.data(), &tables[token_table[t] * max_blocks], block_size,
                                      static_cast<int64_t>(block_size * row), static_cast<int64_t>(row)};
          cpu::PagedKvView kv_v = kv_k;
          kv_v.base = v_cache.data();
          for (int h = 0; h < n_heads; ++h) {
            const float* qh = &q[t * q_stride];
            cpu::attention_one_query(qh, kv_k, kv_v, attention::QueryKeys{0, 0, token_keys[t]}.ranges(), h, n_heads, n_kv_heads,
                                     head_dim, scale, scores.data(), &expected[(t * n_heads) * head_dim]);
            double m = -INFINITY, sum = 0.0;
            std::vector<double> s(token_keys[t]);
            for (int key = 0; key < token_keys[t]; ++key) {
              const uint16_t* k_row = &k_cache[(tables[token_table[t] * max_blocks + key / block_size] * block_size + key % block_size) * row +
                                               (h / (n_heads / n_kv_heads)) * head_dim];
              double dot = 0.0;
              for (int e = 0; e < head_dim; ++e) dot += static_cast<double>(qh[h * head_dim + e]) * fp16_to_f32(k_row[e]);
              s[key] = dot * scale;
              m = std::max(m, s[key]);
            }
            for (double v : s) sum += std::exp(v - m);
            expected_lse[t * n_heads + h] = m + std::log(sum);
          }
        }
        SCOPED_TRACE("head_dim " + std::to_string(head_dim) + " heads " + std::to_string(n_heads) + "/" +
                     std::to_string(n_kv_heads) + " block " + std::to_string(block_size));
        DeviceArray<float> d_q(q);
        DeviceArray<uint16_t> d_k(k_cache), d_v(v_cache);
        DeviceArray<int32_t> d_tables(tables), d_table(token_table), d_keys(token_keys);
        auto check_lse = [&](const std::vector<float>& lse, const std::vector<int32_t>& rows) {
          for (int32_t t : rows) {
            for (int h = 0; h < n_heads; ++h) {
              const double want = expected_lse[t * n_heads + h];
              ASSERT_NEAR(lse[t * n_heads + h], want, 1e-3 * (1.0 + std::abs(want))) << "token " << t << " head " << h;
            }
          }
        };
        std::vector<int32_t> all_rows(tokens);
        std::iota(all_rows.begin(), all_rows.end(), 0);
        // Split-KV: all tokens together (a grid of 32 splits), then the first 9 and the first 7
        // (one split: at most 129 keys); each token's bits must not change.
        std::vector<std::vector<uint16_t>> outputs;
        for (int n_tokens : {tokens, 9, 7}) {
          const int max_keys = *std::max_element(token_keys.begin(), token_keys.begin() + n_tokens);
          const PagedAttentionShape shape{n_tokens, n_heads, n_kv_heads, head_dim, block_size, q_stride, max_blocks, max_keys, scale};
          DeviceArray<float> d_lse(static_cast<size_t>(tokens) * n_heads), d_workspace(std::max<size_t>(1, paged_attention_workspace(shape)));
          DeviceArray<uint16_t> d_out(static_cast<size_t>(tokens) * n_heads * head_dim);
          d_out.poison();
          d_lse.poison();
          paged_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_table.get(), d_keys.get(), nullptr, d_out.get(),
                          d_lse.get(), d_workspace.get(), shape, nullptr);
          sync();
          auto out = d_out.download();
          out.resize(static_cast<size_t>(n_tokens) * n_heads * head_dim);
          outputs.push_back(out);
          check_lse(d_lse.download(), std::vector<int32_t>(all_rows.begin(), all_rows.begin() + n_tokens));
        }
        EXPECT_LT(relative_error(from_bf16(outputs[0]), expected), 1e-2);
        EXPECT_TRUE(std::equal(outputs[1].begin(), outputs[1].end(), outputs[0].begin()));
        EXPECT_TRUE(std::equal(outputs[2].begin(), outputs[2].end(), outputs[0].begin()));

        // A token list (every other token) serves exactly those, with the same bits.
        std::vector<int32_t> listed;
        for (int t = 0; t < tokens; t += 2) listed.push_back(t);
        {
          const PagedAttentionShape shape{static_cast<int>(listed.size()), n_heads, n_kv_heads, head_dim, block_size, q_stride,
                                          max_blocks, longest, scale};
          DeviceArray<float> d_lse(static_cast<size_t>(tokens) * n_heads), d_workspace(std::max<size_t>(1, paged_attention_workspace(shape)));
          DeviceArray<uint16_t> d_out(static_cast<size_t>(tokens) * n_heads * head_dim);
          DeviceArray<int32_t> d_listed(listed);
          d_out.poison();
          paged_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_table.get(), d_keys.get(), d_listed.get(),
                          d_out.get(), d_lse.get(), d_workspace.get(), shape, nullptr);
          sync();
          const auto out = d_out.download();
          const size_t per_token = static_cast<size_t>(n_heads) * head_dim;
          for (int32_t t : listed) {
            EXPECT_TRUE(std::equal(out.begin() + t * per_token, out.begin() + (t + 1) * per_token, outputs[0].begin() + t * per_token));
          }
          check_lse(d_lse.download(), listed);
        }

        // Tensor cores: each sequence's queries as prefill tiles.
        {
          std::vector<PrefillTile> tiles;
          for (int t = 0; t < tokens;) {
            int n = 1;
            while (t + n < tokens && token_table[t + n] == token_table[t]) ++n;
            append_prefill_tiles(token_table[t], t, token_keys[t] - 1, n, tiles);
            t += n;
          }
          const PagedAttentionShape shape{tokens, n_heads, n_kv_heads, head_dim, block_size, q_stride, max_blocks, longest, scale};
          DeviceArray<float> d_lse(static_cast<size_t>(tokens) * n_heads);
          DeviceArray<uint16_t> d_out(static_cast<size_t>(tokens) * n_heads * head_dim);
          DeviceArray<PrefillTile> d_tiles(tiles);
          d_out.poison();
          d_lse.poison();
          prefill_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_tiles.get(), static_cast<int>(tiles.size()),
                            d_out.get(), d_lse.get(), shape, nullptr);
          sync();
          // fp16 q, scores and probabilities on tensor cores: a little looser than the CUDA-core path.
          EXPECT_LT(relative_error(from_bf16(d_out.download()), expected), 2e-2);
          check_lse(d_lse.download(), all_rows);
        }

        // A sliding window of 50 keys, alone and with 4 sink keys (StreamingLLM), both kernels,
        // against a double-precision softmax over exactly the visible keys. The keys no query of
        // a sequence sees are NaN, as a block a window released may hold anything (another
        // sequence's keys): neither kernel may read them, the tensor-core one's partly visible
        // 64-key steps included.
        for (int sinks : {0, 4}) {
          const int window = 50;
          SCOPED_TRACE("window 50, sinks " + std::to_string(sinks));
          const auto want = double_attention(c, q, q_stride, n_heads, n_kv_heads, head_dim, scale, [&](int t, int) {
            const int n_keys = token_keys[t], first = std::max(0, n_keys - window);
            std::vector<int> keys;
            for (int key = 0; key < n_keys; ++key) {
              if (key >= first || key < sinks) keys.push_back(key);
            }
            return keys;
          });
          std::vector<uint16_t> k_released = k_cache, v_released = v_cache;
          for (size_t i = 0; i < lengths.size(); ++i) {
            const int first_seen = std::max(0, std::max(1, lengths[i] - 2) - window);  // by the sequence's first query
            for (int key = sinks; key < first_seen; ++key) {
              const auto at = static_cast<std::ptrdiff_t>(c.offset(static_cast<int>(i), key));
              std::fill_n(k_released.begin() + at, row, uint16_t{0xffff});
              std::fill_n(v_released.begin() + at, row, uint16_t{0xffff});
            }
          }
          DeviceArray<uint16_t> d_k_released(k_released), d_v_released(v_released);
          PagedAttentionShape shape{tokens, n_heads, n_kv_heads, head_dim, block_size, q_stride, max_blocks, longest, scale};
          shape.window = window;
          shape.sinks = sinks;
          std::vector<PrefillTile> tiles;
          for (int t = 0; t < tokens;) {
            int n = 1;
            while (t + n < tokens && token_table[t + n] == token_table[t]) ++n;
            append_prefill_tiles(token_table[t], t, token_keys[t] - 1, n, tiles);
            t += n;
          }
          DeviceArray<float> d_workspace(std::max<size_t>(1, paged_attention_workspace(shape)));
          DeviceArray<uint16_t> d_split(static_cast<size_t>(tokens) * n_heads * head_dim), d_tc(d_split.size());
          DeviceArray<PrefillTile> d_tiles(tiles);
          d_split.poison();
          d_tc.poison();
          paged_attention(d_q.get(), d_k_released.get(), d_v_released.get(), d_tables.get(), d_table.get(), d_keys.get(), nullptr,
                          d_split.get(), nullptr, d_workspace.get(), shape, nullptr);
          prefill_attention(d_q.get(), d_k_released.get(), d_v_released.get(), d_tables.get(), d_tiles.get(),
                            static_cast<int>(tiles.size()), d_tc.get(), nullptr, shape, nullptr);
          sync();
          EXPECT_LT(relative_error(from_bf16(d_split.download()), want), 1e-2) << "split-KV";
          EXPECT_LT(relative_error(from_bf16(d_tc.download()), want), 2e-2) << "tensor cores";
        }
      }
    }
  }
}

// block_topk: the bounds of completed blocks are exactly their keys' min and max (those of a
// sequence's partial last block stay poisoned: nothing may read them); the page lists equal the
// definition (attention::select_pages over the same bounds) except for pages whose scores lie
// within float rounding of the last one taken (the kernel sums a score in another order); the
// attention over the lists equals the CPU op's over the same pages; and a budget of every page
// gives full attention's bits.
TEST_F(CudaOps, BlockTopkSelectionMatchesTheDefinitionAndAttendsToItsPages) {
  SCOPED_TRACE(seed_);
  int lists = 0, exact = 0;
  for (int head_dim : {64, 128, 256}) {
    for (auto [n_heads, n_kv_heads] : {std::pair{9, 3}, std::pair{8, 2}, std::pair{4, 4}, std::pair{32, 8}}) {
      for (int block_size : {4, 16, 32}) {
        SCOPED_TRACE("head_dim " + std::to_string(head_dim) + ", heads " + std::to_string(n_heads) + "/" +
                     std::to_string(n_kv_heads) + ", block_size " + std::to_string(block_size));
        const std::vector<int> lengths = {1, 17, 64, 250, 1000, 5000};
        const int longest = 5000, group = n_heads / n_kv_heads;
        const size_t row = static_cast<size_t>(n_kv_heads) * head_dim;
        const PagedCase c = paged_case(lengths, block_size, row);
        const int tokens = static_cast<int>(c.token_keys.size());
        const int q_stride = (n_heads + 2 * n_kv_heads) * head_dim;
        const auto q = random(static_cast<size_t>(tokens) * q_stride);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        const size_t n_blocks = c.k_cache.size() / (block_size * row);
        std::vector<int32_t> completed;
        for (size_t i = 0; i < lengths.size(); ++i) {
          for (int b = 0; b < lengths[i] / block_size; ++b) completed.push_back(c.tables[i * c.max_blocks + b]);
        }
        DeviceArray<uint16_t> d_k(c.k_cache), d_v(c.v_cache), d_bounds(n_blocks * 2 * row);
        DeviceArray<int32_t> d_completed(completed), d_tables(c.tables), d_table(c.token_table), d_keys(c.token_keys);
        DeviceArray<float> d_q(q);
        d_bounds.poison();
        page_bounds(d_k.get(), d_completed.get(), static_cast<int>(completed.size()), d_bounds.get(), n_kv_heads, head_dim,
                    block_size, nullptr);
        sync();
        const auto bounds = d_bounds.download();
        for (int32_t block : completed) {
          for (size_t e = 0; e < row; ++e) {
            float lo = INFINITY, hi = -INFINITY;
            for (int r = 0; r < block_size; ++r) {
              const float k = fp16_to_f32(c.k_cache[(static_cast<size_t>(block) * block_size + r) * row + e]);
              lo = std::min(lo, k);
              hi = std::max(hi, k);
            }
            ASSERT_EQ(fp16_to_f32(bounds[block * 2 * row + e]), lo) << "block " << block;
            ASSERT_EQ(fp16_to_f32(bounds[block * 2 * row + row + e]), hi) << "block " << block;
          }
        }

        const PagedAttentionShape full{tokens, n_heads, n_kv_heads, head_dim, block_size, q_stride, c.max_blocks, longest, scale};
        DeviceArray<float> d_full_workspace(std::max<size_t>(1, paged_attention_workspace(full)));
        DeviceArray<uint16_t> d_full(static_cast<size_t>(tokens) * n_heads * head_dim);
        paged_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_table.get(), d_keys.get(), nullptr, d_full.get(),
                        nullptr, d_full_workspace.get(), full, nullptr);
        using attention::PageBudget;
        for (const PageBudget& budget : {PageBudget{0, 0.125, 1, 1}, PageBudget{5, 0.0, 2, 2}, PageBudget{0, 0.3, 0, 1},
                                         PageBudget{1 << 20, 0.0, 1, 1}}) {
          SCOPED_TRACE("top_pages " + std::to_string(budget.top_pages) + ", fraction " + std::to_string(budget.page_fraction) +
                       ", sinks " + std::to_string(budget.sink_pages) + ", recent " + std::to_string(budget.recent_pages));
          const PageSelectionShape shape{tokens, n_heads, n_kv_heads, head_dim, block_size, q_stride, c.max_blocks, c.max_blocks, budget};
          const int stride = page_list_stride(shape);
          DeviceArray<int32_t> d_lists(static_cast<size_t>(tokens) * n_kv_heads * stride);
          DeviceArray<float> d_scores(std::max<size_t>(1, page_selection_workspace(shape)));
          d_lists.poison();
          d_scores.poison();
          select_pages(d_q.get(), d_bounds.get(), d_tables.get(), d_table.get(), d_keys.get(), d_lists.get(), d_scores.get(), shape,
                       nullptr);
          PagedAttentionShape sparse = full;
          sparse.max_keys = std::min(longest, stride * block_size);
          DeviceArray<float> d_workspace(std::max<size_t>(1, paged_attention_workspace(sparse)));
          DeviceArray<uint16_t> d_out(static_cast<size_t>(tokens) * n_heads * head_dim);
          d_out.poison();
          paged_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_table.get(), d_keys.get(), nullptr, d_out.get(),
                          nullptr, d_workspace.get(), sparse, nullptr, {d_lists.get(), stride, budget});
          sync();
          const auto got = d_lists.download();
          auto read_pages = [&](int t, int kv_head) {
            const int visible = attention::visible_pages(c.token_keys[t] - 1, block_size);
            const int32_t* list = &got[(static_cast<size_t>(t) * n_kv_heads + kv_head) * stride];
            return std::vector<int32_t>(list, list + std::min(visible, attention::pages_to_read(budget, visible)));
          };
          for (int t = 0; t < tokens; ++t) {
            const int visible = attention::visible_pages(c.token_keys[t] - 1, block_size);
            for (int g = 0; g < n_kv_heads; ++g) {
              const float* q_group = &q[static_cast<size_t>(t) * q_stride + static_cast<size_t>(g) * group * head_dim];
              auto bound = [&](int page, int which) {
                return &bounds[static_cast<size_t>(c.tables[c.token_table[t] * c.max_blocks + page]) * 2 * row + which * row +
                               static_cast<size_t>(g) * head_dim];
              };
              auto score_of = [&](int page) {
                return attention::group_page_score(q_group, group, bound(page, 0), bound(page, 1), head_dim, fp16_to_f32);
              };
              std::vector<int32_t> want(std::min(visible, attention::pages_to_read(budget, visible)));
              std::vector<float> ranked(want.size());
              attention::select_pages(budget, visible, score_of, want.data(), ranked.data());
              const auto pages = read_pages(t, g);
              ++lists;
              if (pages == want) {
                ++exact;
                continue;
              }
              ASSERT_TRUE(std::is_sorted(pages.begin(), pages.end()));
              // The last candidate taken, and a bound of the rounding of a score's sum.
              float threshold = INFINITY;
              for (int32_t page : want) {
                if (page >= budget.sink_pages && page < visible - budget.recent_pages) threshold = std::min(threshold, score_of(page));
              }
              std::vector<int32_t> differ;
              std::set_symmetric_difference(pages.begin(), pages.end(), want.begin(), want.end(), std::back_inserter(differ));
              for (int32_t page : differ) {
                ASSERT_GE(page, budget.sink_pages);
                ASSERT_LT(page, visible - budget.recent_pages);
                double magnitude = 0.0;
                for (int h = 0; h < group; ++h) {
                  for (int i = 0; i < head_dim; ++i) {
                    const float qi = q_group[h * head_dim + i];
                    magnitude += std::max(std::abs(qi * fp16_to_f32(bound(page, 0)[i])), std::abs(qi * fp16_to_f32(bound(page, 1)[i])));
                  }
                }
                EXPECT_LE(std::abs(score_of(page) - threshold), 1e-5 * magnitude) << "token " << t << " KV head " << g << " page " << page;
              }
            }
          }
          if (budget.top_pages == 1 << 20) {  // every page: full attention, bit for bit
            EXPECT_EQ(d_out.download(), d_full.download());
            continue;
          }
          // The CPU op over the same pages.
          std::vector<float> expected(static_cast<size_t>(tokens) * n_heads * head_dim), scratch(longest);
          for (int t = 0; t < tokens; ++t) {
            const cpu::PagedKvView kv_k{c.k_cache.data(), &c.tables[c.token_table[t] * c.max_blocks], block_size,
                                        static_cast<int64_t>(block_size * row), static_cast<int64_t>(row)};
            cpu::PagedKvView kv_v = kv_k;
            kv_v.base = c.v_cache.data();
            for (int h = 0; h < n_heads; ++h) {
              const auto pages = read_pages(t, h / group);
              std::vector<attention::KeyRange> keys(pages.size());
              keys.resize(model::page_key_ranges(pages, block_size, c.token_keys[t], keys.data()));
              cpu::attention_one_query(&q[static_cast<size_t>(t) * q_stride], kv_k, kv_v, keys, h, n_heads, n_kv_heads, head_dim,
                                       scale, scratch.data(), &expected[static_cast<size_t>(t) * n_heads * head_dim]);
            }
          }
          EXPECT_LT(relative_error(from_bf16(d_out.download()), expected), 1e-2);
        }
      }
    }
  }
  std::printf("[cuda] block_topk: %d of %d page lists equal to the definition, the rest within rounding\n", exact, lists);
}

// The projections with their neighbours fused (at one token the GEMV stages the RMSNorm of its
// input and gives out the gated activation) against the CPU's RMSNorm and the unfused ops. A row
// wider than the GEMV stages (24,584) takes the RMSNorm kernel first.
// evict: attention through EvictRows reads exactly a row's kept slots [0, packed_end) and those
// from natural_begin on (the slots between hold NaN: a compaction emptied them); each key's score
// grows by the softmax weights the scoring queries give it (H2O: every query; SnapKV: those of the
// observation window), summed over its KV head's query heads, against a double reference, from 0
// for the keys the step wrote, which get their positions.
TEST_F(CudaOps, EvictAttentionKeyScoresAndCompactionMatchTheDefinition) {
  SCOPED_TRACE(seed_);
  const int block_size = 16;
  for (int head_dim : {64, 128, 256}) {
    for (auto [n_heads, n_kv_heads] : {std::pair{9, 3}, std::pair{8, 1}}) {
      SCOPED_TRACE("head_dim " + std::to_string(head_dim) + " heads " + std::to_string(n_heads) + "/" + std::to_string(n_kv_heads));
      const size_t row = static_cast<size_t>(n_kv_heads) * head_dim;
      // Row 0 never compacted, 40 keys; row 1 keeps slots [0, 32) and holds its own from 64 on, 100 keys.
      const std::vector<int> lengths = {40, 100};
      const std::vector<EvictRow> evict_rows = {{0, 0, 40, 0, 3}, {32, 64, 100, 3, 3}};
      PagedCase c = paged_case(lengths, block_size, row);
      for (int key = 32; key < 64; ++key) {
        const auto at = static_cast<std::ptrdiff_t>(c.offset(1, key));
        std::fill_n(c.k_cache.begin() + at, row, uint16_t{0xffff});
        std::fill_n(c.v_cache.begin() + at, row, uint16_t{0xffff});
      }
      const int tokens = static_cast<int>(c.token_keys.size());  // 3 per row, its last positions
      std::vector<int32_t> positions(c.token_keys.begin(), c.token_keys.end());
      for (auto& p : positions) --p;
      const int q_stride = (n_heads + 2 * n_kv_heads) * head_dim;
      const auto q = random(static_cast<size_t>(tokens) * q_stride);
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      const int group = n_heads / n_kv_heads;
      const auto keys_of = [&](int t, int) {
        const EvictRow& r = evict_rows[static_cast<size_t>(c.token_table[t])];
        std::vector<int> keys;
        for (int key = 0; key < c.token_keys[t]; ++key) {
          if (key < r.packed_end || key >= r.natural_begin) keys.push_back(key);
        }
        return keys;
      };
      const auto want_out = double_attention(c, q, q_stride, n_heads, n_kv_heads, head_dim, scale, keys_of);
      // Each (token, head)'s scaled scores of its keys, in double.
      const auto scores_of = [&](int t, int h) {
        const int kv_head = h / group;
        std::vector<double> s;
        for (int key : keys_of(t, kv_head)) {
          const size_t at = c.offset(c.token_table[t], key) + static_cast<size_t>(kv_head) * head_dim;
          double dot = 0.0;
          for (int e = 0; e < head_dim; ++e) dot += static_cast<double>(q[t * q_stride + h * head_dim + e]) * fp16_to_f32(c.k_cache[at + e]);
          s.push_back(dot * scale);
        }
        return s;
      };
      const size_t n_slots = c.k_cache.size() / row;
      const auto initial_scores = random(n_slots * n_kv_heads);
      std::vector<int32_t> initial_positions(n_slots * n_kv_heads);
      std::iota(initial_positions.begin(), initial_positions.end(), 1000);

      DeviceArray<float> d_q(q);
      DeviceArray<uint16_t> d_k(c.k_cache), d_v(c.v_cache), d_out(static_cast<size_t>(tokens) * n_heads * head_dim);
      DeviceArray<int32_t> d_tables(c.tables), d_table(c.token_table), d_keys(c.token_keys), d_positions(positions);
      DeviceArray<EvictRow> d_rows(evict_rows);
      DeviceArray<float> d_lse(static_cast<size_t>(tokens) * n_heads);
      const PagedAttentionShape shape{tokens, n_heads, n_kv_heads, head_dim, block_size, q_stride, c.max_blocks, 100, scale};
      DeviceArray<float> d_workspace(std::max<size_t>(1, paged_attention_workspace(shape)));
      d_out.poison();
      d_lse.poison();
      paged_attention(d_q.get(), d_k.get(), d_v.get(), d_tables.get(), d_table.get(), d_keys.get(), nullptr, d_out.get(),
                      d_lse.get(), d_workspace.get(), shape, nullptr, {}, d_rows.get());
      sync();
      EXPECT_LT(relative_error(from_bf16(d_out.download()), want_out), 1e-2);

      for (auto policy : {attention::EvictPolicy::kH2O, attention::EvictPolicy::kSnapKv}) {
        attention::EvictionPlan plan;
        plan.policy = policy;
        plan.recent_tokens = 2;  // SnapKV's observation window: each row's last two queries score
        SCOPED_TRACE(policy == attention::EvictPolicy::kH2O ? "h2o" : "snapkv");
        // The keys the step wrote (each token's own) start at 0 and get their positions.
        std::vector<double> want(initial_scores.begin(), initial_scores.end());
        std::vector<int32_t> want_positions = initial_positions;
        for (int t = 0; t < tokens; ++t) {
          const size_t slot = c.offset(c.token_table[t], positions[t]) / row;
          for (int h = 0; h < n_kv_heads; ++h) {
            want[slot * n_kv_heads + h] = 0.0;
            want_positions[slot * n_kv_heads + h] = positions[t];
          }
        }
        for (int t = 0; t < tokens; ++t) {
          const EvictRow& r = evict_rows[static_cast<size_t>(c.token_table[t])];
          if (!attention::scores_query(plan, positions[t], r.prompt_end)) continue;
          for (int h = 0; h < n_heads; ++h) {
            const auto s = scores_of(t, h);
            const double m = *std::max_element(s.begin(), s.end());
            double total = 0.0;
            for (double v : s) total += std::exp(v - m);
            const auto keys = keys_of(t, h / group);
            for (size_t j = 0; j < keys.size(); ++j) {
              const size_t slot = c.offset(c.token_table[t], keys[j]) / row;
              want[slot * n_kv_heads + h / group] += std::exp(s[j] - m) / total;
            }
          }
        }
        for (bool prompts : {true, false}) {  // several queries a barrier, or one (the decode instance)
          DeviceArray<float> d_scores(initial_scores);
          DeviceArray<int32_t> d_slot_positions(initial_positions);
          accumulate_key_scores(d_q.get(), d_k.get(), d_lse.get(), d_tables.get(), d_positions.get(), d_rows.get(), 2,
                                d_slot_positions.get(), d_scores.get(), shape, plan, prompts, nullptr);
          sync();
          const auto got = d_scores.download();
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_NEAR(got[i], want[i], 1e-4 * (1.0 + std::abs(want[i]))) << "slot " << i / n_kv_heads << (prompts ? " (prompts)" : "");
          }
          EXPECT_EQ(d_slot_positions.download(), want_positions);
        }
      }
    }
  }
}

// evict's compaction on the GPU: choose_kept_slots keeps exactly attention::choose_kept's
// candidates (protected sinks and recent keys, SnapKV's generated keys, then scores with many
// ties, newer first; SnapKV's scores max-pooled at a first compaction), and compact_slots leaves K,
// V, positions and scores as the CPU's one-by-one moves do. Two layers of one group (SnapKV, H2O)
// and two sequences compact in one launch: A's first compaction (320 candidates, 20 of them
// generated), and B's later one (its 64 kept keys and 16 written since).
TEST_F(CudaOps, EvictCompactionKeepsWhatChooseKeptKeeps) {
  SCOPED_TRACE(seed_);
  const int block_size = 16, n_kv_heads = 3, budget_blocks = 4, keep = budget_blocks * block_size;
  const std::vector<attention::EvictionPlan> plans = {{attention::EvictPolicy::kSnapKv, keep, 4, 8, 7},
                                                      {attention::EvictPolicy::kH2O, keep, 4, 24, 1}};
  for (int head_dim : {64, 256}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim));
    struct LayerData {
      std::vector<uint16_t> k, v;
      std::vector<int32_t> positions;
      std::vector<float> scores;
    };
    std::vector<LayerData> inputs, wanted;
    std::vector<int32_t> candidates;
    std::vector<CompactionRow> rows;
    const size_t row = static_cast<size_t>(n_kv_heads) * head_dim;
    // Blocks shuffled between A (21 blocks) and B (8: blocks 4-5 emptied by its last compaction).
    std::vector<int32_t> blocks(29);
    std::iota(blocks.begin(), blocks.end(), 0);
    std::shuffle(blocks.begin(), blocks.end(), rng_);
    std::vector<int32_t> table_a(blocks.begin(), blocks.begin() + 21), table_b(blocks.begin() + 21, blocks.end());
    table_b[4] = table_b[5] = -1;
    struct Sequence {
      const std::vector<int32_t>& table;
      int64_t end, prompt_end;
    };
    const std::vector<Sequence> sequences = {{table_a, 21 * 16 - 5, 300}, {table_b, 7 * 16 + 3, 50}};
    for (const attention::EvictionPlan& plan : plans) {  // each layer its own keys, positions and scores
      const size_t n_slots = 29 * static_cast<size_t>(block_size);
      std::vector<uint16_t> k_cache(n_slots * row), v_cache(k_cache.size());
      for (auto& x : k_cache) x = f32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
      for (auto& x : v_cache) x = f32_to_fp16(std::normal_distribution<float>(0.0f, 1.0f)(rng_));
      std::vector<int32_t> slot_positions(n_slots * n_kv_heads, -7);
      std::vector<float> slot_scores(n_slots * n_kv_heads);
      for (auto& x : slot_scores) x = std::round(std::normal_distribution<float>(0.0f, 2.0f)(rng_)) / 4.0f;  // many ties
      const auto cache_slot = [&](const std::vector<int32_t>& table, int64_t slot) {
        return static_cast<int32_t>(table[static_cast<size_t>(slot / block_size)] * block_size + slot % block_size);
      };
      // Positions: A's keys at their own slots; B's 64 kept keys an ascending pick of 0..95 per head.
      for (int64_t slot = 0; slot < 21 * 16; ++slot) {
        for (int h = 0; h < n_kv_heads; ++h) slot_positions[static_cast<size_t>(cache_slot(table_a, slot)) * n_kv_heads + h] = static_cast<int32_t>(slot);
      }
      for (int h = 0; h < n_kv_heads; ++h) {
        std::vector<int32_t> kept(96);
        std::iota(kept.begin(), kept.end(), 0);
        std::shuffle(kept.begin(), kept.end(), rng_);
        kept.resize(keep);
        std::ranges::sort(kept);
        for (int64_t slot = 0; slot < 8 * 16; ++slot) {
          if (slot / block_size == 4 || slot / block_size == 5) continue;
          slot_positions[static_cast<size_t>(cache_slot(table_b, slot)) * n_kv_heads + h] =
              slot < keep ? kept[static_cast<size_t>(slot)] : static_cast<int32_t>(slot);
        }
      }

      // The plan and inputs, as plan_step makes them (the same for every layer), and the CPU's
      // compaction of copies.
      candidates.clear();
      rows.clear();
      std::vector<uint16_t> want_k = k_cache, want_v = v_cache;
      std::vector<int32_t> want_positions = slot_positions;
      std::vector<float> want_scores = slot_scores;
      for (const Sequence& seq : sequences) {
        const auto c = attention::plan_compaction(seq.table, budget_blocks, block_size, seq.end, seq.prompt_end);
        ASSERT_TRUE(c.has_value());
        const auto first = static_cast<int32_t>(candidates.size()), n = static_cast<int32_t>(c->candidates());
        for (int32_t i = 0; i < n; ++i) candidates.push_back(cache_slot(seq.table, c->slot(i)));
        rows.push_back({first, n, static_cast<int32_t>(seq.end), static_cast<int32_t>(seq.prompt_end), c->first() ? 1 : 0});
        for (int h = 0; h < n_kv_heads; ++h) {
          std::vector<int32_t> positions;
          std::vector<float> scores;
          for (int32_t i = 0; i < n; ++i) {
            positions.push_back(slot_positions[static_cast<size_t>(candidates[first + i]) * n_kv_heads + h]);
            scores.push_back(slot_scores[static_cast<size_t>(candidates[first + i]) * n_kv_heads + h]);
          }
          const auto kept = attention::choose_kept(plan, *c, positions, scores, seq.end, seq.prompt_end);
          ASSERT_EQ(kept.size(), static_cast<size_t>(keep));
          for (size_t j = 0; j < kept.size(); ++j) {
            const size_t from = static_cast<size_t>(candidates[first + kept[j]]), to = static_cast<size_t>(candidates[first + j]);
            const size_t head = static_cast<size_t>(h) * head_dim;
            std::copy_n(want_k.begin() + from * row + head, head_dim, want_k.begin() + to * row + head);
            std::copy_n(want_v.begin() + from * row + head, head_dim, want_v.begin() + to * row + head);
            want_positions[to * n_kv_heads + h] = positions[static_cast<size_t>(kept[j])];
            want_scores[to * n_kv_heads + h] = scores[static_cast<size_t>(kept[j])];
          }
        }
      }
      inputs.push_back({k_cache, v_cache, slot_positions, slot_scores});
      wanted.push_back({want_k, want_v, want_positions, want_scores});
    }
    struct DeviceLayer {
      DeviceArray<uint16_t> k, v;
      DeviceArray<int32_t> positions;
      DeviceArray<float> scores;
    };
    std::vector<DeviceLayer> device;
    std::vector<EvictingLayer> layers;
    for (size_t l = 0; l < plans.size(); ++l) {
      DeviceLayer& d = device.emplace_back(DeviceLayer{DeviceArray<uint16_t>(inputs[l].k), DeviceArray<uint16_t>(inputs[l].v),
                                                       DeviceArray<int32_t>(inputs[l].positions),
                                                       DeviceArray<float>(inputs[l].scores)});
      layers.push_back({d.k.get(), d.v.get(), d.positions.get(), d.scores.get(),
                        plans[l].policy == attention::EvictPolicy::kH2O ? 1 : 0, plans[l].sink_tokens, plans[l].recent_tokens,
                        plans[l].pool_kernel});
    }
    DeviceArray<EvictingLayer> d_layers(layers);
    DeviceArray<int32_t> d_candidates(candidates);
    DeviceArray<CompactionRow> d_rows(rows);
    DeviceArray<unsigned long long> d_keys(plans.size() * candidates.size() * n_kv_heads);
    DeviceArray<SlotMove> d_moves(plans.size() * rows.size() * n_kv_heads * keep);
    choose_kept_slots(d_candidates.get(), static_cast<int>(candidates.size()), d_rows.get(), 2, keep, n_kv_heads,
                      d_layers.get(), 2, d_keys.get(), d_moves.get(), nullptr);
    compact_slots(d_moves.get(), 2, keep, n_kv_heads, head_dim, d_layers.get(), 2, nullptr);
    sync();
    for (size_t l = 0; l < plans.size(); ++l) {
      SCOPED_TRACE(l == 0 ? "snapkv" : "h2o");
      EXPECT_EQ(device[l].positions.download(), wanted[l].positions);
      EXPECT_EQ(device[l].scores.download(), wanted[l].scores);
      EXPECT_TRUE(device[l].k.download() == wanted[l].k);
      EXPECT_TRUE(device[l].v.download() == wanted[l].v);
    }
  }
}

TEST_F(CudaOps, NormAndGatedProjectionsMatchTheCpuAndTheUnfusedOps) {
  SCOPED_TRACE(seed_);
  const int n_ff = 68, out = 2 * n_ff;
  Gemm gemm;
  for (int in : {576, 24584}) {
    for (int n : {1, 4}) {
      SCOPED_TRACE("in " + std::to_string(in) + ", tokens " + std::to_string(n));
      auto x = random(static_cast<size_t>(n) * in, 2.0f), norm_w = random(in);
      auto w = to_bf16(random(static_cast<size_t>(out) * in, 0.05f));
      DeviceArray<float> d_x(x), d_norm_w(norm_w), d_y(static_cast<size_t>(n) * out), d_gate_up(static_cast<size_t>(n) * out);
      DeviceArray<uint16_t> d_w(w), d_normed(static_cast<size_t>(n) * in), d_act(static_cast<size_t>(n) * n_ff),
          d_want_act(static_cast<size_t>(n) * n_ff);
      d_y.poison();
      const LinearInput input = LinearInput::rms_norm(d_x.get(), d_norm_w.get(), 1e-5f, d_normed.get());
      gemm.linear(input, d_w.get(), d_y.get(), n, in, out, nullptr);
      for (auto activation : {GatedActivation::kSilu, GatedActivation::kGeluTanh}) {
        d_act.poison();
        gemm.gated_linear(input, d_w.get(), d_gate_up.get(), d_act.get(), n, in, n_ff, activation, nullptr);
        gated_activation(d_y.get(), d_want_act.get(), n, n_ff, activation, nullptr);
        sync();
        EXPECT_LT(relative_error(from_bf16(d_act.download()), from_bf16(d_want_act.download())), 1e-3);
      }
      std::vector<float> normed(static_cast<size_t>(n) * in), want_y(static_cast<size_t>(n) * out);
      for (int t = 0; t < n; ++t) cpu::rms_norm(&x[t * in], norm_w.data(), &normed[t * in], in, 1e-5f);
      for (int t = 0; t < n; ++t) {
        for (int o = 0; o < out; ++o) {
          double a = 0.0;
          for (int i = 0; i < in; ++i) a += bf16_to_f32(w[o * in + i]) * static_cast<double>(bf16_to_f32(f32_to_bf16(normed[t * in + i])));
          want_y[t * out + o] = static_cast<float>(a);
        }
      }
      EXPECT_LT(relative_error(d_y.download(), want_y), 1e-2);
    }
  }
}

// The qkv projection that applies RoPE and writes K and V itself (one token) gives the bits of
// the plain projection followed by rope_kv_write; more tokens run those two.
TEST_F(CudaOps, RopeProjectionEqualsProjectionThenRopeKvWrite) {
  SCOPED_TRACE(seed_);
  Gemm gemm;
  for (auto [head_dim, rope_dim, halves] : {std::tuple{64, 64, false}, std::tuple{128, 64, true}}) {
    for (int n : {1, 3}) {
      SCOPED_TRACE("head_dim " + std::to_string(head_dim) + (halves ? " halves" : "") + ", tokens " + std::to_string(n));
      const int in = 256, n_heads = 6, n_kv_heads = 2, n_slots = 16;
      const int q_dim = n_heads * head_dim, stride = q_dim + 2 * n_kv_heads * head_dim;
      const size_t cache_size = static_cast<size_t>(n_slots) * n_kv_heads * head_dim;
      auto x = to_bf16(random(static_cast<size_t>(n) * in)), w = to_bf16(random(static_cast<size_t>(stride) * in, 0.05f));
      std::vector<int32_t> positions = {5, 77, 300}, slots = {9, 2, 14};
      DeviceArray<uint16_t> d_x(x), d_w(w), k_fused(cache_size), v_fused(cache_size), k_want(cache_size), v_want(cache_size);
      DeviceArray<int32_t> d_positions(positions), d_slots(slots);
      DeviceArray<float> qkv_fused(static_cast<size_t>(n) * stride), qkv_want(static_cast<size_t>(n) * stride);
      for (auto* cache : {&k_fused, &v_fused, &k_want, &v_want}) cache->poison();
      qkv_fused.poison();
      const RopeKvWriteShape rope{n, n_heads, n_kv_heads, head_dim, rope_dim, 10000.0f, halves, 1.0f, 0.125f};
      gemm.rope_linear(LinearInput::bf16(d_x.get()), d_w.get(), qkv_fused.get(), in, d_positions.get(), d_slots.get(),
                       k_fused.get(), v_fused.get(), rope, nullptr);
      gemm.linear(LinearInput::bf16(d_x.get()), d_w.get(), qkv_want.get(), n, in, stride, nullptr);
      rope_kv_write(qkv_want.get(), d_positions.get(), d_slots.get(), k_want.get(), v_want.get(), rope, nullptr);
      sync();
      const auto got = qkv_fused.download(), want = qkv_want.download();
      for (int t = 0; t < n; ++t) {
        for (int j = 0; j < q_dim; ++j) ASSERT_EQ(got[t * stride + j], want[t * stride + j]) << "q " << t << " " << j;
      }
      EXPECT_EQ(k_fused.download(), k_want.download());
      EXPECT_EQ(v_fused.download(), v_want.download());
    }
  }
}

TEST_F(CudaOps, SamplingMatchesTheHostReference) {
  SCOPED_TRACE(seed_);
  for (int vocab : {1000, 49152}) {
    const int n_logits = 6;
    auto logits = random(static_cast<size_t>(n_logits) * vocab, 3.0f);
    for (int r = 0; r < n_logits; ++r) logits[r * vocab + 7] = logits[r * vocab + 3];  // ties
    logits[2 * vocab + 11] = logits[2 * vocab + 12] = 50.0f;                            // a tied best
    std::vector<sampling::SamplingRow> rows;
    auto add = [&](auto&& setup) {
      for (uint64_t seed = 0; seed < 12; ++seed) {
        sampling::SamplingRow row;
        row.logits_row = static_cast<int32_t>((rows.size() * 5 + seed) % n_logits);
        row.seed = seed * 0x9e3779b97f4a7c15ull + 1;
        row.draw = seed * 3;
        setup(row);
        rows.push_back(row);
      }
    };
    add([](auto& r) { r.temperature = 0.0f; });
    add([](auto& r) { r.temperature = 1.0f; });
    add([](auto& r) { r.temperature = 0.7f, r.top_k = 1; });
    add([](auto& r) { r.temperature = 1.0f, r.top_k = 5; });
    add([](auto& r) { r.temperature = 1.0f, r.top_k = 50, r.top_p = 0.9f; });
    add([](auto& r) { r.temperature = 2.0f, r.top_p = 0.5f; });
    add([](auto& r) { r.temperature = 1.5f, r.min_p = 0.2f; });
    add([](auto& r) { r.temperature = 1.3f, r.top_k = 40, r.top_p = 0.95f, r.min_p = 0.05f, r.top_logprobs = 5; });
    add([](auto& r) { r.temperature = 1e-5f; });
    add([&](auto& r) {
      r.temperature = 0.9f;
      r.top_logprobs = 20;
      r.penalties = {1.3f, 0.5f, 0.25f};
      for (int32_t t = 0; t < 40; ++t) {
        sampling::TokenAdjustment a;
        a.token = t * 13 % vocab;
        a.bias = t % 3 == 0 ? 2.0f : 0.0f;
        a.seen = t % 2 == 0;
        a.generated = t % 5;
        a.banned = t % 11 == 0;
        if (r.adjustments.empty() || r.adjustments.back().token < a.token) r.adjustments.push_back(a);
      }
    });
    add([&](auto& r) {
      r.temperature = 0.0f;
      r.top_logprobs = 0;
      r.adjustments.push_back({11, 0.0f, false, 0, true});  // bans the tied best of row 2
    });
    DeviceArray<float> d_logits(logits);
    GpuSampler sampler;
    const auto got = sampler.sample(d_logits.get(), n_logits, vocab, rows, nullptr);
    const auto want = sampling::sample_rows(logits, static_cast<size_t>(vocab), rows);
    ASSERT_EQ(got.size(), want.size());
    int same = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      same += got[i].token == want[i].token;
      EXPECT_EQ(got[i].token, want[i].token) << "row " << i << " vocab " << vocab;
      EXPECT_NEAR(got[i].chosen.logprob, want[i].chosen.logprob, 1e-3f);
      ASSERT_EQ(got[i].top.size(), want[i].top.size());
      for (size_t j = 0; j < got[i].top.size(); ++j) {
        EXPECT_EQ(got[i].top[j].token, want[i].top[j].token);
        EXPECT_NEAR(got[i].top[j].logprob, want[i].top[j].logprob, 1e-3f);
      }
    }
    std::printf("[cuda] sampling, vocab %d: %d/%zu picks equal to the host reference\n", vocab, same, got.size());
  }
  GpuSampler sampler;
  DeviceArray<float> d_logits(std::vector<float>(10, 0.0f));
  sampling::SamplingRow bad;
  bad.adjustments.push_back({10, 1.0f, false, 0, false});
  EXPECT_THROW(sampler.sample(d_logits.get(), 1, 10, std::span(&bad, 1), nullptr), std::out_of_range);
}

TEST_F(CudaOps, Fills) {
  DeviceArray<uint16_t> a(100003), b(100003);
  DeviceArray<float> f(1000);
  f.poison();
  fill_uniform_bf16(a.get(), 100003, 7, 0.5f, nullptr);
  fill_uniform_bf16(b.get(), 100003, 7, 0.5f, nullptr);
  fill_f32(f.get(), 1000, 1.0f, nullptr);
  sync();
  const auto values = from_bf16(a.download());
  EXPECT_EQ(a.download(), b.download());  // a function of (seed, index)
  double mean = 0.0;
  for (float v : values) {
    ASSERT_LE(std::abs(v), 0.5f);
    mean += v;
  }
  EXPECT_LT(std::abs(mean / values.size()), 0.01);
  for (float v : f.download()) ASSERT_EQ(v, 1.0f);
}

// The one-token GEMV and cuBLAS's batches, plain and accumulating, against a double-precision
// reference.
TEST_F(CudaOps, GemmMatchesDoubleReference) {
  SCOPED_TRACE(seed_);
  const int in = 576, out = 201;  // odd: the GEMV's last pair has one row
  Gemm gemm;
  std::vector<float> alone;
  for (int n : {1, 2, 3, 5, 8, 9, 33}) {
    SCOPED_TRACE("tokens " + std::to_string(n));
    auto x = to_bf16(random(static_cast<size_t>(n) * in)), w = to_bf16(random(static_cast<size_t>(out) * in, 0.05f));
    DeviceArray<uint16_t> d_x(x), d_w(w);
    DeviceArray<float> d_y(static_cast<size_t>(n) * out);
    d_y.poison();
    gemm.linear(LinearInput::bf16(d_x.get()), d_w.get(), d_y.get(), n, in, out, nullptr);
    sync();
    const auto first = d_y.download();
    gemm.linear_add(LinearInput::bf16(d_x.get()), d_w.get(), d_y.get(), n, in, out, nullptr);  // y += x W^T: twice the product
    sync();
    std::vector<float> expected(static_cast<size_t>(n) * out);
    for (int t = 0; t < n; ++t) {
      for (int o = 0; o < out; ++o) {
        double sum = 0.0;
        for (int i = 0; i < in; ++i) sum += static_cast<double>(bf16_to_f32(x[t * in + i])) * bf16_to_f32(w[o * in + i]);
        expected[t * out + o] = static_cast<float>(sum);
      }
    }
    EXPECT_LT(relative_error(first, expected), 1e-5);
    for (auto& e : expected) e *= 2.0f;
    EXPECT_LT(relative_error(d_y.download(), expected), 1e-5);
  }
}

}  // namespace
}  // namespace strata::cuda
