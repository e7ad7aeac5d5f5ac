// The decoder on the GPU against the CPU forward: teacher-forced along the llama.cpp parity
// prompts of SmolLM2-135M and Gemma 3 270M, batched against alone, graphs against prefill, the
// scheduler on the GPU, greedy runs of tiny random models, and layouts other than the model's own
// (block_topk with and without reuse, sink_window, evict and Gemma 3's window group: several KV
// cache groups). The GPU runs
// bf16 weights without 8-bit activation quantization, so real files are compared by agreement,
// not bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/attention/attention_layout.h"
#include "engine/attention/query_keys.h"
#include "engine/common/half.h"
#include "engine/cuda/device.h"
#include "engine/cuda/model/cuda_decoder_model.h"
#include "engine/model/cpu_model_runner.h"
#include "engine/runtime/loaded_model.h"
#include "engine/runtime/solo_sequence.h"
#include "kvcache/cache_config.h"
#include "scheduler/scheduler.h"
#include "tests/unit/gguf_builder.h"
#include "tests/unit/sequence_runs.h"
#include "tests/unit/test_paths.h"

namespace strata::cuda {
namespace {

int32_t argmax(const float* row, size_t n) { return static_cast<int32_t>(std::max_element(row, row + n) - row); }

constexpr int32_t kBlock = 16;

// A layout given as JSON text (a '{' first) or as a file of configs/attention/; empty: the
// model's own attention.
attention::AttentionLayout test_layout(const std::string& layout) {
  if (layout.empty()) return {};
  if (layout.front() == '{') return test::layout(layout);
  return attention::AttentionLayout::load(test::source_path("configs/attention/" + layout));
}

// Releases (-1), in each window_kv group's table, the blocks no query from position `pos` on
// reads, as kvcache's commits do: the GPU must never read them.
void release_behind_windows(std::vector<std::vector<int32_t>>& tables, const attention::AttentionPlan& plan, int32_t pos) {
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    const attention::CacheGroupPlan& group = plan.groups[g];
    if (group.kind != kvcache::CacheKind::kWindowKv) continue;
    const attention::QueryKeys keys = attention::query_keys(pos, group.sink_tokens, group.window_tokens);
    for (int64_t b = (keys.sink_end + kBlock - 1) / kBlock; (b + 1) * kBlock <= keys.window_begin; ++b) {
      tables[g][static_cast<size_t>(b)] = -1;
    }
  }
}

// One sequence's step over its tables, one per cache group.
model::BatchSequence step_of(std::span<const int32_t> tokens, int32_t start_pos, const std::vector<std::vector<int32_t>>& tables,
                             model::LogitsWanted logits) {
  return {tokens, start_pos, std::vector<std::span<const int32_t>>(tables.begin(), tables.end()), logits};
}

class CudaLlama : public ::testing::Test {
 protected:
  void SetUp() override {
    auto query = query_devices();
    if (query.devices.empty()) GTEST_SKIP() << "no CUDA device: " << query.reason;
    file_ = gguf::GgufFile::open(test::default_model_path());
  }
  std::unique_ptr<CudaDecoderModel> gpu(int32_t n_blocks) {
    return std::make_unique<CudaDecoderModel>(model::ModelConfig::from_gguf(*file_), *gguf_weight_source(*file_),
                                              std::vector<int32_t>{n_blocks}, 16);
  }
  std::unique_ptr<gguf::GgufFile> file_;
};

// Teacher-forced along the llama.cpp parity prompts of a real file, against the CPU forward.
struct TeacherForcedCase {
  std::string model_path, fixture;
};

class CudaTeacherForced : public ::testing::TestWithParam<TeacherForcedCase> {};

TEST_P(CudaTeacherForced, ArgmaxAgreesWithTheCpu) {
  auto query = query_devices();
  if (query.devices.empty()) GTEST_SKIP() << "no CUDA device: " << query.reason;
  const auto& param = GetParam();
  // make setup fetches every model file: a missing one is a broken setup, not a reason to skip.
  ASSERT_TRUE(std::ifstream(param.model_path)) << "no model file " << param.model_path << " (make setup fetches it)";
  const auto file = gguf::GgufFile::open(param.model_path);
  std::ifstream in(test::source_path("tests/golden/parity/" + param.fixture + ".json"));
  const auto fixture = nlohmann::json::parse(in);
  model::DecoderModel cpu_model(*file, 2);
  CudaDecoderModel gpu(model::ModelConfig::from_gguf(*file), *gguf_weight_source(*file), {64}, 16);
  std::vector<int32_t> table(64);
  std::iota(table.begin(), table.end(), 0);
  const size_t vocab = static_cast<size_t>(gpu.config().vocab_size);
  int positions = 0, agree = 0;
  double max_diff = 0.0, sum_diff = 0.0;
  for (const auto& c : fixture["cases"]) {
    auto tokens = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto greedy = c["greedy"].get<std::vector<int32_t>>();
    tokens.insert(tokens.end(), greedy.begin(), greedy.end() - 1);
    runtime::SoloSequence alone(model::cpu_runner_factory(cpu_model), static_cast<int32_t>(tokens.size()));
    const auto cpu_logits = alone.feed(tokens, model::LogitsWanted::kAll);
    const auto gpu_logits = gpu.forward({{tokens, 0, {table}, model::LogitsWanted::kAll}});
    ASSERT_EQ(gpu_logits.size(), cpu_logits.size());
    for (size_t row = c["prompt_ids"].size() - 1; row < tokens.size(); ++row) {
      const float* g = gpu_logits.data() + row * vocab;
      const float* p = cpu_logits.data() + row * vocab;
      for (size_t i = 0; i < vocab; ++i) ASSERT_TRUE(std::isfinite(g[i]));
      ++positions;
      agree += argmax(g, vocab) == argmax(p, vocab);
      const int32_t best = argmax(p, vocab);
      const double diff = std::fabs(g[best] - p[best]);
      max_diff = std::max(max_diff, diff);
      sum_diff += diff;
    }
  }
  std::printf("[cuda] %s teacher-forced vs CPU over %d positions: argmax agreement %.1f%%, |diff| at the CPU's best: max %.3f, "
              "mean %.3f\n",
              param.fixture.c_str(), positions, 100.0 * agree / positions, max_diff, sum_diff / positions);
  EXPECT_GE(static_cast<double>(agree) / positions, 0.9);
}

INSTANTIATE_TEST_SUITE_P(RealFiles, CudaTeacherForced,
                         ::testing::Values(TeacherForcedCase{test::default_model_path(), "smollm2-135m-instruct-q4_1"},
                                           TeacherForcedCase{test::source_path("models/gemma-3-270m-q4_k_m.gguf"),
                                                             "gemma-3-270m-q4_k_m"}),
                         [](const ::testing::TestParamInfo<TeacherForcedCase>& param_info) {
                           return param_info.index == 0 ? std::string("smollm2") : std::string("gemma3");
                         });

TEST_F(CudaLlama, BatchedAndChunkedMatchesAlone) {
  auto model = gpu(64);
  CudaDecoderModel& gpu = *model;
  const size_t vocab = static_cast<size_t>(gpu.config().vocab_size);
  std::vector<int32_t> a(37), b(20);
  std::iota(a.begin(), a.end(), 100);
  std::iota(b.begin(), b.end(), 5000);
  std::vector<int32_t> table_a = {0, 1, 2}, table_b = {7, 3};
  const auto alone_a = gpu.forward({{a, 0, {table_a}, model::LogitsWanted::kLast}});
  const auto alone_b = gpu.forward({{b, 0, {table_b}, model::LogitsWanted::kLast}});
  // Again, batched, a chunked in two, with b's blocks elsewhere.
  std::vector<int32_t> table_b2 = {9, 12};
  std::span<const int32_t> span_a(a);
  gpu.forward({{span_a.first(16), 0, {table_a}, model::LogitsWanted::kNone}});
  const auto together = gpu.forward({{span_a.subspan(16), 16, {table_a}, model::LogitsWanted::kLast},
                                     {b, 0, {table_b2}, model::LogitsWanted::kLast}});
  double max_diff = 0.0;
  for (size_t i = 0; i < vocab; ++i) {
    max_diff = std::max({max_diff, std::fabs(static_cast<double>(together[i]) - alone_a[i]),
                         std::fabs(static_cast<double>(together[vocab + i]) - alone_b[i])});
  }
  std::printf("[cuda] batched+chunked vs alone: max |logit diff| %.3g; argmax %s\n", max_diff,
              argmax(together.data(), vocab) == argmax(alone_a.data(), vocab) &&
                      argmax(together.data() + vocab, vocab) == argmax(alone_b.data(), vocab)
                  ? "equal"
                  : "differs");
  EXPECT_EQ(argmax(together.data(), vocab), argmax(alone_a.data(), vocab));
  EXPECT_EQ(argmax(together.data() + vocab, vocab), argmax(alone_b.data(), vocab));
  EXPECT_LT(max_diff, 0.5);
}

// Decode steps replay CUDA graphs (padded to a batch bucket); their logits must be those of the
// same tokens run teacher-forced without a graph, alone and three sequences batched.
TEST_F(CudaLlama, GraphDecodeStepsMatchTeacherForced) {
  auto model = gpu(64);
  CudaDecoderModel& gpu = *model;
  const size_t vocab = static_cast<size_t>(gpu.config().vocab_size);
  struct Seq {
    std::vector<int32_t> tokens, table;
  };
  std::vector<Seq> seqs(3);
  for (int i = 0; i < 3; ++i) {
    seqs[i].tokens.resize(static_cast<size_t>(9 + 14 * i));
    std::iota(seqs[i].tokens.begin(), seqs[i].tokens.end(), 700 + 90 * i);
    for (int b = 0; b < 4; ++b) seqs[i].table.push_back(20 * i + 3 * b + 1);  // scattered
  }
  std::vector<std::vector<float>> last(3);
  for (int i = 0; i < 3; ++i) last[i] = gpu.forward({{seqs[i].tokens, 0, {seqs[i].table}, model::LogitsWanted::kLast}});
  std::vector<std::vector<float>> decoded(3);  // logits of every decode step, in order
  for (int step = 0; step < 12; ++step) {
    model::ForwardBatch batch;
    std::vector<int32_t> next(3);
    for (int i = 0; i < 3; ++i) {
      next[i] = argmax(last[i].data(), vocab);
      seqs[i].tokens.push_back(next[i]);
      batch.push_back({std::span<const int32_t>(&next[i], 1), static_cast<int32_t>(seqs[i].tokens.size()) - 1,
                       {seqs[i].table}, model::LogitsWanted::kLast});
    }
    const auto logits = gpu.forward(batch);
    for (int i = 0; i < 3; ++i) {
      last[i].assign(logits.begin() + static_cast<std::ptrdiff_t>(i * vocab), logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab));
      decoded[i].insert(decoded[i].end(), last[i].begin(), last[i].end());
    }
  }
  EXPECT_GE(gpu.captured_graphs(), 1u);
  // The two paths round differently (split-KV on CUDA cores vs tensor-core tiles, cuBLAS shapes),
  // so where two logits nearly tie the picks may differ: every pick must be the forced argmax or
  // within the logit tolerance of it.
  const double tolerance = 0.5;
  double max_diff = 0.0, worst_gap = 0.0;
  int agree = 0, total = 0;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> table2 = {50, 51, 52, 53};
    const auto forced = gpu.forward({{seqs[i].tokens, 0, {table2}, model::LogitsWanted::kAll}});
    const size_t first = seqs[i].tokens.size() - 12;  // row of the first decoded token's input
    for (size_t step = 0; step < 12; ++step) {
      const float* g = decoded[i].data() + step * vocab;
      const float* f = forced.data() + (first + step) * vocab;
      for (size_t v = 0; v < vocab; ++v) max_diff = std::max(max_diff, std::fabs(static_cast<double>(g[v]) - f[v]));
      const int picked = argmax(g, vocab), best = argmax(f, vocab);
      agree += picked == best;
      worst_gap = std::max(worst_gap, static_cast<double>(f[best]) - f[picked]);
      ++total;
    }
  }
  std::printf("[cuda] graph decode steps vs teacher-forced: max |logit diff| %.3g, argmax agreement %d/%d, the others %.3g "
              "below the forced best at most\n",
              max_diff, agree, total, worst_gap);
  EXPECT_GE(agree * 10, total * 9);
  EXPECT_LT(worst_gap, tolerance);
  EXPECT_LT(max_diff, tolerance);
}

// A tiny random model (Llama, or Gemma 3 with QK-norm, post-norms, GeGLU, RoPE by halves and
// 16-token sliding windows on five of its six layers) written as a GGUF with F32 tensors whose
// values are bf16 numbers, so the CPU forward (F32 weights) and the GPU forward (bf16 weights)
// hold the same weights. They still round differently (the GPU feeds bf16 activations to its
// GEMMs), so greedy runs can part where two logits nearly tie.
std::string tiny_model_file(const std::string& arch, uint32_t seed, uint32_t context_length = 256) {
  const bool gemma = arch == "gemma3";
  const uint64_t d = 128, ff = 256, vocab = 512, head_dim = 64, kv = 64, layers = gemma ? 6 : 2;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;  // cols, rows
    float scale;                 // 0: a norm weight near 1
  };
  std::vector<Tensor> tensors = {{"token_embd.weight", {d, vocab}, 1.0f}, {"output_norm.weight", {d}, 0.0f}};
  if (!gemma) tensors.push_back({"output.weight", {d, vocab}, 6.0f / std::sqrt(static_cast<float>(d))});
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const float in_d = 1.7f / std::sqrt(static_cast<float>(d)), in_ff = 1.7f / std::sqrt(static_cast<float>(ff));
    tensors.push_back({p + "attn_norm.weight", {d}, 0.0f});
    tensors.push_back({p + "ffn_norm.weight", {d}, 0.0f});
    tensors.push_back({p + "attn_q.weight", {d, 2 * head_dim}, in_d});
    tensors.push_back({p + "attn_k.weight", {d, kv}, in_d});
    tensors.push_back({p + "attn_v.weight", {d, kv}, in_d});
    tensors.push_back({p + "attn_output.weight", {2 * head_dim, d}, in_d});
    tensors.push_back({p + "ffn_gate.weight", {d, ff}, in_d});
    tensors.push_back({p + "ffn_up.weight", {d, ff}, in_d});
    tensors.push_back({p + "ffn_down.weight", {ff, d}, in_ff});
    if (gemma) {
      tensors.push_back({p + "attn_q_norm.weight", {head_dim}, 0.0f});
      tensors.push_back({p + "attn_k_norm.weight", {head_dim}, 0.0f});
      tensors.push_back({p + "post_attention_norm.weight", {d}, 0.0f});
      tensors.push_back({p + "post_ffw_norm.weight", {d}, 0.0f});
    }
  }
  test::GgufBuilder b;
  b.header(tensors.size(), gemma ? 10 : 8)
      .kv_str("general.architecture", arch)
      .kv_u32(arch + ".block_count", static_cast<uint32_t>(layers))
      .kv_u32(arch + ".embedding_length", d)
      .kv_u32(arch + ".feed_forward_length", ff)
      .kv_u32(arch + ".attention.head_count", 2)
      .kv_u32(arch + ".attention.head_count_kv", 1)
      .kv_u32(arch + ".context_length", context_length)
      .kv_str("general.name", "tiny random " + arch);
  if (gemma) b.kv_u32(arch + ".attention.key_length", head_dim).kv_u32(arch + ".attention.sliding_window", 16);
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t n = 1;
    for (auto dim : t.dims) n *= dim;
    b.tensor(t.name, t.dims, 0, offset);
    offset += (n * 4 + 31) / 32 * 32;
  }
  b.align();
  for (const auto& t : tensors) {
    uint64_t n = 1;
    for (auto dim : t.dims) n *= dim;
    std::vector<float> values(n);
    for (auto& v : values) v = bf16_to_f32(f32_to_bf16(t.scale == 0.0f ? 1.0f + 0.1f * uniform(rng) : t.scale * uniform(rng)));
    b.floats(values);
    b.align();
  }
  return b.write("tiny_" + arch + "_" + std::to_string(seed) + "_" + std::to_string(context_length));
}

// Greedy generation on the GPU (tensor-core prefill, graph decode steps, picks on the GPU) is the
// CPU's greedy generation: every GPU pick is the CPU's argmax along the same tokens, or within
// 0.05 logits of it (a near-tie the two roundings may order differently), and runs that meet no
// such tie are identical token for token. Llama, and Gemma 3 past its sliding window: masked in
// one paged group (its own layout), and in its window group with the pages the window left
// released (gemma3_native.json: two cache groups on the GPU).
struct GreedyCase {
  std::string name, arch;
  std::string layout;  // test_layout's
};

class CudaGreedy : public ::testing::TestWithParam<GreedyCase> {};

TEST_P(CudaGreedy, TokensAreTheCpusGreedyTokensOnTinyRandomModels) {
  auto query = query_devices();
  if (query.devices.empty()) GTEST_SKIP() << "no CUDA device: " << query.reason;
  const std::string arch = GetParam().arch;
  constexpr float kTie = 0.05f;
  const std::vector<int32_t> prompt = {5, 77, 300, 12, 511, 0, 42, 42, 199, 256};
  const int n_new = 48;
  int picks = 0, argmax_picks = 0, identical_runs = 0;
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto file = gguf::GgufFile::open(tiny_model_file(arch, seed));
    model::DecoderModel cpu_model(*file, 2, test_layout(GetParam().layout));
    const attention::AttentionPlan& plan = cpu_model.attention_plan();
    CudaDecoderModel gpu(cpu_model.config(), *gguf_weight_source(*file), std::vector<int32_t>(plan.groups.size(), 8), kBlock, plan);
    std::vector<std::vector<int32_t>> tables(plan.groups.size(), {3, 0, 6, 1});
    std::vector<int32_t> sequence = prompt;
    sampling::SamplingRow greedy;
    greedy.temperature = 0.0f;
    gpu.step({step_of(sequence, 0, tables, model::LogitsWanted::kLast)});
    for (int i = 0; i < n_new; ++i) {
      sequence.push_back(gpu.sample(std::span(&greedy, 1)).front().token);
      if (i + 1 < n_new) {
        const auto pos = static_cast<int32_t>(sequence.size()) - 1;
        release_behind_windows(tables, plan, pos);
        gpu.step({step_of(std::span<const int32_t>(&sequence.back(), 1), pos, tables, model::LogitsWanted::kLast)});
      }
    }
    if (plan.groups.size() > 1) {
      EXPECT_EQ(tables[1][0], -1);  // the window's pages left it
    }
    // The CPU along the GPU's tokens, and the CPU's own greedy run.
    runtime::SoloSequence forced(model::cpu_runner_factory(cpu_model), static_cast<int32_t>(sequence.size()),
                                 plan.group_kinds());
    const auto logits = forced.feed(sequence, model::LogitsWanted::kAll);
    const size_t vocab = static_cast<size_t>(cpu_model.config().vocab_size);
    for (int i = 0; i < n_new; ++i) {
      const float* row = logits.data() + (prompt.size() - 1 + static_cast<size_t>(i)) * vocab;
      const float best = row[argmax(row, vocab)];
      const int32_t pick = sequence[prompt.size() + static_cast<size_t>(i)];
      EXPECT_LE(best - row[pick], kTie) << "step " << i;
      argmax_picks += argmax(row, vocab) == pick;
      ++picks;
    }
    runtime::SoloSequence free(model::cpu_runner_factory(cpu_model), static_cast<int32_t>(sequence.size()), plan.group_kinds());
    auto next = free.feed(prompt);
    bool identical = true;
    for (int i = 0; i < n_new && identical; ++i) {
      const int32_t token = argmax(next.data(), next.size());
      identical = token == sequence[prompt.size() + static_cast<size_t>(i)];
      if (identical && i + 1 < n_new) next = free.feed(std::span<const int32_t>(&token, 1));
    }
    identical_runs += identical;
  }
  std::printf("[cuda] greedy on 5 tiny random %s models: %d / %d GPU picks are the CPU's argmax (the rest within %.2f); "
              "%d / 5 runs identical token for token\n",
              GetParam().name.c_str(), argmax_picks, picks, kTie, identical_runs);
  EXPECT_GE(identical_runs, 3);
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaGreedy,
                         ::testing::Values(GreedyCase{"llama", "llama", ""}, GreedyCase{"gemma3", "gemma3", ""},
                                           GreedyCase{"gemma3_native", "gemma3", "gemma3_native.json"}),
                         [](const ::testing::TestParamInfo<GreedyCase>& case_info) { return case_info.param.name; });

struct SchedulerRun {
  int equal = 0;                   // requests whose tokens equal alone
  std::vector<int32_t> peak_used;  // per cache group, the most blocks in use after any step
};

// n_requests greedy requests of prompt_length + i * length_step tokens through the scheduler on
// m's runner (64 blocks a cache group), chunked (max_batched tokens a step) and batched, against
// each alone on a runner of its own, which keeps every page; each difference is a test failure
// unless must_equal is false (then only counted).
SchedulerRun scheduler_requests_equal_alone(runtime::LoadedModel& m, int prompt_length, int length_step, int n_new,
                                            int32_t max_batched, int n_requests = 4, bool must_equal = true) {
  scheduler::SchedulerConfig config;
  config.max_num_batched_tokens = max_batched;
  config.num_kv_blocks = 64;
  scheduler::Scheduler s(m, config);
  std::vector<std::vector<int32_t>> expected;
  std::map<uint64_t, size_t> index;
  std::vector<std::vector<int32_t>> got(static_cast<size_t>(n_requests));
  for (int i = 0; i < n_requests; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(prompt_length + length_step * i));
    std::iota(prompt.begin(), prompt.end(), 300 + 50 * i);
    runtime::SoloSequence alone(m.make_runner, static_cast<int32_t>(prompt.size()) + n_new,
                                m.model->attention_plan().group_kinds());
    auto logits = alone.feed(prompt);
    std::vector<int32_t> tokens;
    for (int t = 0; t < n_new; ++t) {
      tokens.push_back(argmax(logits.data(), logits.size()));
      if (t + 1 < n_new) logits = alone.feed(std::span<const int32_t>(&tokens.back(), 1));
    }
    expected.push_back(tokens);
    scheduler::GenerationParams p;
    p.sampling.temperature = 0.0f;
    p.max_tokens = n_new;
    p.ignore_eos = true;
    auto r = s.submit({prompt, p}, [&got, &index](const scheduler::SequenceEvent& e) {
      auto& out = got[index.at(e.request_id)];
      out.insert(out.end(), e.tokens.begin(), e.tokens.end());
    });
    EXPECT_EQ(r.status, scheduler::SubmitStatus::kAccepted) << r.reason;
    index[r.request_id] = static_cast<size_t>(i);
  }
  SchedulerRun run;
  run.peak_used.resize(static_cast<size_t>(s.kv_cache().num_groups()));
  while (s.has_work()) {
    s.step();
    s.kv_cache().check_invariants();
    for (int g = 0; g < s.kv_cache().num_groups(); ++g) {
      run.peak_used[static_cast<size_t>(g)] = std::max(run.peak_used[static_cast<size_t>(g)], s.kv_cache().usage(g).used);
    }
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (must_equal) {
      EXPECT_EQ(got[i], expected[i]) << "request " << i;
    }
    EXPECT_EQ(got[i].size(), expected[i].size()) << "request " << i;
    run.equal += got[i] == expected[i];
  }
  EXPECT_EQ(s.stats().kv_blocks_used, 0);
  return run;
}

// The scheduler on the GPU runner: chunked, batched requests get the tokens each gets alone.
TEST_F(CudaLlama, SchedulerOnTheGpuMatchesAlone) {
  auto m = runtime::LoadedModel::load(test::default_model_path(), 2);
  m.make_runner = cuda_runner_factory(*m.file);
  scheduler_requests_equal_alone(m, 5, 11, 12, 24);
}

// 4 sink tokens and a 100-token window (not a multiple of the block or the key step) on layers
// 2-29 of SmolLM2: layers 0-1 in the paged group, the rest in a window_kv group.
const char* kSinkWindowLayout = R"({"layers": {"2-29": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 100}}})";

// Layouts other than the model's own on the GPU against the CPU forward under the same layout,
// teacher-forced along 640 tokens: the first half as one prefill, the rest as decode steps
// (graphs), past the first 3 pages compared by argmax agreement. block_topk: every query past its
// third page reads a selection; the two sides round q differently, so a page whose score nearly
// ties may be chosen on one side only. sink_window: the prefill runs past the window, and each
// decode step's window-group table has the pages the window left released (-1).
struct LayoutCase {
  std::string name;
  std::function<std::string()> model_path;
  std::string layout;  // test_layout's
  std::function<std::vector<int32_t>(const gguf::GgufFile&)> tokens;
  double min_agreement;
  size_t chunk = 1;  // CudaEvict: tokens a step after the prompt
  friend void PrintTo(const LayoutCase& c, std::ostream* os) { *os << c.name; }
};

// The llama.cpp parity prompts of SmolLM2 and their greedy continuations, repeated to 640 tokens.
std::vector<int32_t> parity_text(const gguf::GgufFile&) {
  std::ifstream in(test::source_path("tests/golden/parity/smollm2-135m-instruct-q4_1.json"));
  const auto fixture = nlohmann::json::parse(in);
  std::vector<int32_t> tokens;
  while (tokens.size() < 640) {
    for (const auto& c : fixture["cases"]) {
      for (const char* key : {"prompt_ids", "greedy"}) {
        const auto part = c[key].get<std::vector<int32_t>>();
        tokens.insert(tokens.end(), part.begin(), part.end());
      }
    }
  }
  tokens.resize(640);
  return tokens;
}

std::vector<int32_t> random_tokens(const gguf::GgufFile& file) {
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(640);
  const auto vocab = static_cast<uint32_t>(model::ModelConfig::from_gguf(file).vocab_size);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % vocab);
  return tokens;
}

// A case's file and the CPU model under its layout (skipped without a GPU).
class LayoutCaseTest : public ::testing::TestWithParam<LayoutCase> {
 protected:
  void SetUp() override {
    auto query = query_devices();
    if (query.devices.empty()) GTEST_SKIP() << "no CUDA device: " << query.reason;
    const std::string path = GetParam().model_path();
    ASSERT_TRUE(std::ifstream(path)) << "no model file " << path << " (make setup fetches it)";
    file_ = gguf::GgufFile::open(path);
    cpu_model_ = std::make_unique<model::DecoderModel>(*file_, 2, test_layout(GetParam().layout));
  }
  std::unique_ptr<gguf::GgufFile> file_;
  std::unique_ptr<model::DecoderModel> cpu_model_;
};

class CudaLayout : public LayoutCaseTest {};

TEST_P(CudaLayout, TeacherForcedLogitsAgreeWithTheCpu) {
  const auto& param = GetParam();
  const gguf::GgufFile* file = file_.get();
  model::DecoderModel& cpu_model = *cpu_model_;
  const attention::AttentionPlan& plan = cpu_model.attention_plan();
  CudaDecoderModel gpu(cpu_model.config(), *gguf_weight_source(*file), std::vector<int32_t>(plan.groups.size(), 48), kBlock, plan);
  const std::vector<int32_t> tokens = param.tokens(*file);
  const size_t vocab = static_cast<size_t>(gpu.config().vocab_size), half = tokens.size() / 2;
  std::vector<int32_t> table(48);
  std::iota(table.rbegin(), table.rend(), 0);  // blocks in descending order: tables are honoured
  std::vector<std::vector<int32_t>> tables(plan.groups.size(), table);
  runtime::SoloSequence alone(model::cpu_runner_factory(cpu_model), static_cast<int32_t>(tokens.size()), plan.group_kinds());
  const auto cpu_logits = alone.feed(tokens, model::LogitsWanted::kAll);
  std::span<const int32_t> all(tokens);
  auto gpu_logits = gpu.forward({step_of(all.first(half), 0, tables, model::LogitsWanted::kAll)});
  for (size_t pos = half; pos < tokens.size(); ++pos) {
    release_behind_windows(tables, plan, static_cast<int32_t>(pos));
    const auto row = gpu.forward({step_of(all.subspan(pos, 1), static_cast<int32_t>(pos), tables, model::LogitsWanted::kLast)});
    gpu_logits.insert(gpu_logits.end(), row.begin(), row.end());
  }
  ASSERT_EQ(gpu_logits.size(), cpu_logits.size());
  EXPECT_GE(gpu.captured_graphs(), 1u);
  int positions = 0, agree = 0;
  double max_diff = 0.0, sum_diff = 0.0;
  for (size_t row = 48; row < tokens.size(); ++row) {  // past the first 3 pages
    const float* g = gpu_logits.data() + row * vocab;
    const float* p = cpu_logits.data() + row * vocab;
    for (size_t i = 0; i < vocab; ++i) ASSERT_TRUE(std::isfinite(g[i])) << "row " << row;
    ++positions;
    agree += argmax(g, vocab) == argmax(p, vocab);
    const double diff = std::fabs(g[argmax(p, vocab)] - p[argmax(p, vocab)]);
    max_diff = std::max(max_diff, diff);
    sum_diff += diff;
  }
  std::printf("[cuda] %s teacher-forced vs CPU over %d positions (prefill %zu, decode %zu): argmax agreement "
              "%.1f%%, |diff| at the CPU's best: max %.3f, mean %.3f\n",
              param.name.c_str(), positions, half, tokens.size() - half, 100.0 * agree / positions, max_diff,
              sum_diff / positions);
  EXPECT_GE(static_cast<double>(agree) / positions, param.min_agreement);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, CudaLayout,
    ::testing::Values(LayoutCase{"smollm2_block_topk", [] { return test::default_model_path(); }, "block_topk_8th.json",
                                 parity_text, 0.85},
                      LayoutCase{"tiny_llama_block_topk", [] { return tiny_model_file("llama", 11, 1024); },
                                 R"({"layers": {"1": {"backend": "block_topk", "page_fraction": 0.125}}})", random_tokens,
                                 0.85},
                      LayoutCase{"smollm2_block_topk_tidal", [] { return test::default_model_path(); },
                                 "block_topk_tidal.json", parity_text, 0.85},
                      LayoutCase{"tiny_llama_block_topk_reuse", [] { return tiny_model_file("llama", 11, 1024); },
                                 R"({"layers": {"0": {"backend": "block_topk", "page_fraction": 0.125},
                                                "1": {"backend": "block_topk", "page_fraction": 0.125,
                                                      "reuse_selection_of": 0}}})",
                                 random_tokens, 0.85},
                      LayoutCase{"smollm2_sink_window", [] { return test::default_model_path(); }, kSinkWindowLayout,
                                 parity_text, 0.9}),
    [](const ::testing::TestParamInfo<LayoutCase>& case_info) { return case_info.param.name; });

// The scheduler on the GPU under block_topk_8th.json: chunked, batched requests long enough to
// select get the greedy tokens each gets alone (a token's selection is its own, whatever the batch).
TEST_F(CudaLlama, SchedulerUnderBlockTopkMatchesAlone) {
  auto m = runtime::LoadedModel::load(test::default_model_path(), 2,
                                      attention::AttentionLayout::load(test::source_path("configs/attention/block_topk_8th.json")));
  m.make_runner = cuda_runner_factory(*m.file, m.model->attention_plan());
  const int equal = scheduler_requests_equal_alone(m, 60, 37, 24, 40).equal;
  std::printf("[cuda] scheduler under block_topk_8th: %d / 4 requests' greedy tokens equal alone\n", equal);
}

// The scheduler on the GPU under kSinkWindowLayout: chunked, batched requests whose prompts run
// past the window get the greedy tokens each gets alone (every page kept), while kvcache releases
// the pages the window left and hands them to other sequences; one long generation holds at most
// sinks + window + one block in the window group (1 + 7 + 1), every block in the paged group.
TEST_F(CudaLlama, SchedulerUnderSinkWindowMatchesAloneAndReleasesPages) {
  auto m = runtime::LoadedModel::load(test::default_model_path(), 2, test_layout(kSinkWindowLayout));
  m.make_runner = cuda_runner_factory(*m.file, m.model->attention_plan());
  ASSERT_EQ(m.model->attention_plan().groups.size(), 2u);
  const SchedulerRun batched = scheduler_requests_equal_alone(m, 60, 37, 24, 40);
  const SchedulerRun long_run = scheduler_requests_equal_alone(m, 60, 0, 300, 40, 1);
  // Steps write up to 40 tokens: the window group holds sinks + window + one step's blocks.
  const int64_t bound = kvcache::window_step_units(m.model->attention_plan().cache_group_specs(kBlock)[1], 360, 40);
  std::printf("[cuda] scheduler under sink_window (4 sinks + 100): %d / 4 requests' greedy tokens equal alone; one "
              "360-token sequence %s alone and peaks at %d window-group blocks (bound %lld) and %d paged blocks\n",
              batched.equal, long_run.equal == 1 ? "equals" : "differs from", long_run.peak_used[1],
              static_cast<long long>(bound), long_run.peak_used[0]);
  EXPECT_EQ(bound, 1 + 9 + 1);  // the sink block, blocks of 139 tokens (window + step - 1), the one being written
  EXPECT_LE(long_run.peak_used[1], bound);
  EXPECT_EQ(long_run.peak_used[0], 23);  // 359 tokens written: the last pick is never fed back
}

// evict on the GPU against the CPU under the same layout, teacher-forced along 640 tokens: a
// 320-token prompt in one step, then a token a step (graphs) or chunks of 5 (a compacted
// sequence's chunk, as a recompute after preemption runs: the split-KV kernel over its kept
// keys), each side compacting its own cache
// from its first decode step on (SoloSequence releases what a compaction empties, as kvcache
// would). Both choose by attention::choose_kept's rule, but each scores with its own rounding (and the GPU
// from bf16 weights), so a key whose score nearly ties the last one kept may stay on one side
// only: the logits are compared by argmax agreement, past the first 3 pages.
class CudaEvict : public LayoutCaseTest {};

TEST_P(CudaEvict, TeacherForcedLogitsAgreeWithTheCpuWhileBothCompact) {
  const auto& param = GetParam();
  const gguf::GgufFile* file = file_.get();
  model::DecoderModel& cpu_model = *cpu_model_;
  const attention::AttentionPlan& plan = cpu_model.attention_plan();
  const std::vector<int32_t> tokens = param.tokens(*file);
  const size_t vocab = static_cast<size_t>(cpu_model.config().vocab_size), prompt = tokens.size() / 2;
  const auto run = [&](const model::ModelRunnerFactory& factory) {
    runtime::SoloSequence alone(factory, static_cast<int32_t>(tokens.size()), plan.group_kinds());
    std::span<const int32_t> all(tokens);
    auto logits = alone.feed(all.first(prompt), model::LogitsWanted::kAll);
    for (size_t pos = prompt; pos < tokens.size(); pos += param.chunk) {
      const auto rows = alone.feed(all.subspan(pos, std::min(param.chunk, tokens.size() - pos)),
                                   param.chunk == 1 ? model::LogitsWanted::kLast : model::LogitsWanted::kAll);
      logits.insert(logits.end(), rows.begin(), rows.end());
    }
    return logits;
  };
  const auto cpu_logits = run(model::cpu_runner_factory(cpu_model));
  const auto gpu_logits = run(cuda_runner_factory(*file, plan));
  ASSERT_EQ(gpu_logits.size(), cpu_logits.size());
  int positions = 0, agree = 0, agree_decode = 0;
  for (size_t row = 48; row < tokens.size(); ++row) {
    const float* g = gpu_logits.data() + row * vocab;
    const float* p = cpu_logits.data() + row * vocab;
    for (size_t i = 0; i < vocab; ++i) ASSERT_TRUE(std::isfinite(g[i])) << "row " << row;
    ++positions;
    const bool same = argmax(g, vocab) == argmax(p, vocab);
    agree += same;
    agree_decode += same && row >= prompt;
  }
  std::printf("[cuda] %s teacher-forced vs CPU over %d positions (prompt %zu, decode %zu, both compacting): argmax "
              "agreement %.1f%% (decode %.1f%%)\n",
              param.name.c_str(), positions, prompt, tokens.size() - prompt, 100.0 * agree / positions,
              100.0 * agree_decode / static_cast<double>(tokens.size() - prompt));
  EXPECT_GE(static_cast<double>(agree) / positions, param.min_agreement);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, CudaEvict,
    ::testing::Values(
        LayoutCase{"smollm2_snapkv", [] { return test::default_model_path(); },
                  R"({"layers": {"*": {"backend": "evict", "policy": "snapkv", "budget_tokens": 128,
                                        "observation_window": 16}}})",
                  parity_text, 0.85},
        LayoutCase{"smollm2_h2o", [] { return test::default_model_path(); },
                  R"({"layers": {"2-29": {"backend": "evict", "policy": "h2o", "budget_tokens": 128,
                                           "recent_tokens": 64}}})",
                  parity_text, 0.85},
        LayoutCase{"tiny_llama_h2o", [] { return tiny_model_file("llama", 11, 1024); },
                  R"({"layers": {"*": {"backend": "evict", "policy": "h2o", "budget_tokens": 96}}})", random_tokens,
                  0.85},
        LayoutCase{"tiny_llama_snapkv_chunks", [] { return tiny_model_file("llama", 12, 1024); },
                  R"({"layers": {"*": {"backend": "evict", "policy": "snapkv", "budget_tokens": 96,
                                        "observation_window": 16}}})",
                  random_tokens, 0.85, 5}),
    [](const ::testing::TestParamInfo<LayoutCase>& case_info) { return case_info.param.name; });

// The scheduler on the GPU under SnapKV and H2O with budgets of 2 and 3 blocks: chunked, batched
// requests run to their lengths, and the blocks compactions empty go back to the pool: one
// 360-token sequence holds at most its prompt's blocks, then budget + one. Their tokens are
// counted against each alone, not required equal: a sequence's kernels are its own whatever the
// batch, but cuBLAS picks its GEMM by the step's token count, so batched logits differ from alone
// in the last bits (BatchedAndChunkedMatchesAlone), and a key whose score nearly ties the last one
// kept may then be evicted on one side only, which moves the tokens after it.
TEST_F(CudaLlama, SchedulerUnderEvictRunsAndReleasesCompactedBlocks) {
  for (const char* layout : {R"({"layers": {"*": {"backend": "evict", "policy": "snapkv", "budget_tokens": 32,
                                                   "observation_window": 8}}})",
                             R"({"layers": {"*": {"backend": "evict", "policy": "h2o", "budget_tokens": 48,
                                                   "recent_tokens": 16}}})"}) {
    auto m = runtime::LoadedModel::load(test::default_model_path(), 2, test_layout(layout));
    m.make_runner = cuda_runner_factory(*m.file, m.model->attention_plan());
    const SchedulerRun batched = scheduler_requests_equal_alone(m, 60, 37, 24, 40, 4, false);
    const SchedulerRun long_run = scheduler_requests_equal_alone(m, 60, 0, 300, 40, 1, false);
    const int64_t budget = m.model->attention_plan().groups[0].budget_blocks(kBlock);
    std::printf("[cuda] scheduler under %s: %d / 4 requests' greedy tokens equal alone; one 360-token sequence %s alone "
                "and peaks at %d evicting-group blocks (budget %lld blocks)\n",
                m.model->attention_plan().layers[0].plan.eviction->policy == attention::EvictPolicy::kH2O ? "h2o" : "snapkv",
                batched.equal, long_run.equal == 1 ? "equals" : "differs from", long_run.peak_used[0],
                static_cast<long long>(budget));
    // The prompt's 60 tokens (4 blocks) are the peak: decode steps compact at each full block past the budget.
    EXPECT_LE(long_run.peak_used[0], std::max<int64_t>(budget + 1, 4));
  }
}

}  // namespace
}  // namespace strata::cuda
