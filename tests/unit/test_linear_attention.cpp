// The linear-attention cells (engine/attention/linear/) checked three ways on fresh random
// data per seed: the chunked prefill, the token-by-token recurrence and the naive quadratic
// form agree (outputs and final state); through the ragged-batch cells, one-shot prefill,
// decode step by step, prefill split anywhere and a double-precision reference written here
// agree too. Set STRATA_TEST_SEED=<seed> to rerun with the data of a failure.
//
// Tolerances are relative norms ||x - ref|| / ||ref||. fp32 forms that differ only in the order
// of their sums landed below 1e-5 over some 600 seeds (the 64-token chunks of the delta rule, whose
// triangular solve sums the most terms, are the loosest); the bound leaves a margin of ~5x and
// stays well below what a wrong term costs (a decay off by 1e-3 per chunk shows as ~1e-3).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/attention/linear/gated_delta_net.h"
#include "engine/attention/linear/gated_delta_rule.h"
#include "engine/attention/linear/lightning_attention.h"
#include "engine/attention/linear/lightning_attention_cell.h"
#include "engine/attention/linear/linear_batch.h"
#include "engine/attention/linear/quadratic_reference.h"
#include "engine/attention/linear/recurrent_state_store.h"
#include "tests/unit/test_paths.h"

namespace strata::attention::linear {
namespace {

constexpr double kFormTolerance = 5e-5;  // fp32 forms against each other and the double form

// Seeds for `n` data sets: STRATA_TEST_SEED's value and the next ones, else fresh ones.
std::vector<uint32_t> test_seeds(int n) {
  uint32_t first = std::random_device{}();
  if (const char* env = std::getenv("STRATA_TEST_SEED")) first = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
  std::vector<uint32_t> seeds(static_cast<size_t>(n));
  std::iota(seeds.begin(), seeds.end(), first);
  return seeds;
}

std::string seed_note(uint32_t seed) { return "seed " + std::to_string(seed) + " (STRATA_TEST_SEED=" + std::to_string(seed) + ")"; }

std::vector<float> normals(std::mt19937& rng, size_t n, float sigma) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double relative_error(const std::vector<float>& x, const std::vector<float>& ref) {
  double diff = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff += (static_cast<double>(x[i]) - ref[i]) * (static_cast<double>(x[i]) - ref[i]);
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(diff / std::max(norm, std::numeric_limits<double>::min()));
}

void normalize_rows(std::vector<float>& x, int32_t dim, float scale) {
  for (size_t r = 0; r < x.size() / static_cast<size_t>(dim); ++r) {
    float* row = x.data() + r * static_cast<size_t>(dim);
    double sum = 0.0;
    for (int32_t i = 0; i < dim; ++i) sum += static_cast<double>(row[i]) * row[i];
    for (int32_t i = 0; i < dim; ++i) row[i] = static_cast<float>(row[i] * scale / std::sqrt(sum));
  }
}

// ---------------------------------------------------------------------------------------------
// One head, three forms

// Inputs of one head as the gated delta rule takes them: unit q (then scaled) and k, gates
// mostly mild with an occasional strong forgetting step, and a non-zero incoming state.
struct DeltaHeadData {
  int32_t n, d_k, d_v;
  std::vector<float> q, k, v, g, beta, state;

  DeltaHeadData(std::mt19937& rng, int32_t n_tokens, int32_t dk, int32_t dv) : n(n_tokens), d_k(dk), d_v(dv) {
    q = normals(rng, static_cast<size_t>(n) * d_k, 1.0f);
    k = normals(rng, static_cast<size_t>(n) * d_k, 1.0f);
    normalize_rows(q, d_k, 1.0f / std::sqrt(static_cast<float>(d_k)));
    normalize_rows(k, d_k, 1.0f);
    v = normals(rng, static_cast<size_t>(n) * d_v, 1.0f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (int32_t t = 0; t < n; ++t) {
      g.push_back(unit(rng) < 0.1f ? -2.0f - 8.0f * unit(rng) : std::log(0.5f + 0.5f * unit(rng)));
      beta.push_back(1.0f / (1.0f + std::exp(-normals(rng, 1, 1.0f)[0])));
    }
    state = normals(rng, static_cast<size_t>(d_k) * d_v, 0.5f);
  }

  // Runs `form` on a copy of the incoming state; returns (outputs, final state).
  template <typename Form>
  std::pair<std::vector<float>, std::vector<float>> run(const Form& form) const {
    std::vector<float> out(static_cast<size_t>(n) * d_v, std::numeric_limits<float>::quiet_NaN());
    std::vector<float> s = state;
    const DeltaRuleHead head{
        {n, d_k, d_v, {q.data(), d_k}, {k.data(), d_k}, {v.data(), d_v}, {out.data(), d_v}}, {g.data(), 1}, {beta.data(), 1}};
    form(head, s.data());
    return {out, s};
  }
};

const std::vector<int32_t> kLengths = {1, 2, 17, 63, 64, 65, 128, 131, 300};

// One head's data through the recurrence, the quadratic form and the chunked form at the
// production chunk size and at 16; every pair of results (outputs, final state) must agree.
// Each form is called as form(head, state), chunked as chunked(head, chunk, state).
template <typename Data, typename Recurrent, typename Quadratic, typename Chunked>
void check_forms(const Data& data, int32_t production_chunk, const Recurrent& recurrent, const Quadratic& quadratic,
                 const Chunked& chunked, double& worst) {
  const auto [rec_out, rec_state] = data.run(recurrent);
  const auto [quad_out, quad_state] = data.run(quadratic);
  auto expect_small = [&](std::initializer_list<double> errors) {
    for (double e : errors) {
      EXPECT_LT(e, kFormTolerance);
      worst = std::max(worst, e);
    }
  };
  for (int32_t chunk : {production_chunk, 16}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const auto [out, state] = data.run([&](const auto& head, float* s) { chunked(head, chunk, s); });
    expect_small({relative_error(out, quad_out), relative_error(state, quad_state), relative_error(out, rec_out),
                  relative_error(state, rec_state)});
  }
  expect_small({relative_error(rec_out, quad_out), relative_error(rec_state, quad_state)});
}

TEST(GatedDeltaRule, ChunkedRecurrentAndQuadraticFormsAgree) {
  double worst = 0.0;
  for (uint32_t seed : test_seeds(4)) {
    SCOPED_TRACE(seed_note(seed));
    std::mt19937 rng(seed);
    for (int32_t n : kLengths) {
      SCOPED_TRACE("n_tokens " + std::to_string(n));
      check_forms(DeltaHeadData(rng, n, 32, 24), kDeltaRuleChunkSize,
                  [](const DeltaRuleHead& h, float* s) { gated_delta_recurrent(h, s); },
                  [](const DeltaRuleHead& h, float* s) { gated_delta_quadratic(h, s); },
                  [](const DeltaRuleHead& h, int32_t chunk, float* s) { gated_delta_chunked(h, chunk, s); }, worst);
    }
  }
  std::printf("gated delta rule: worst relative error between forms %.3g\n", worst);
}

std::vector<float> silu_normals(std::mt19937& rng, size_t n) {
  std::vector<float> v = normals(rng, n, 1.0f);
  for (float& x : v) x = x / (1.0f + std::exp(-x));
  return v;
}

// A log-uniform slope over MiniMax's range (2^-8/H .. 2^-8 for its head counts, scaled by layer).
float random_slope(std::mt19937& rng) { return std::exp(std::uniform_real_distribution<float>(std::log(1e-3f), 0.0f)(rng)); }

struct LightningHeadData {
  int32_t n, d_k, d_v;
  float slope;
  std::vector<float> q, k, v, state;

  LightningHeadData(std::mt19937& rng, int32_t n_tokens, int32_t dk, int32_t dv) : n(n_tokens), d_k(dk), d_v(dv) {
    slope = random_slope(rng);
    q = silu_normals(rng, static_cast<size_t>(n) * d_k);
    k = silu_normals(rng, static_cast<size_t>(n) * d_k);
    v = silu_normals(rng, static_cast<size_t>(n) * d_v);
    state = normals(rng, static_cast<size_t>(d_k) * d_v, 0.5f);
  }

  template <typename Form>
  std::pair<std::vector<float>, std::vector<float>> run(const Form& form) const {
    std::vector<float> out(static_cast<size_t>(n) * d_v, std::numeric_limits<float>::quiet_NaN());
    std::vector<float> s = state;
    HeadSequence head{n, d_k, d_v, {q.data(), d_k}, {k.data(), d_k}, {v.data(), d_v}, {out.data(), d_v}};
    form(head, s.data());
    return {out, s};
  }
};

TEST(LightningAttention, ChunkedRecurrentAndQuadraticFormsAgree) {
  double worst = 0.0;
  for (uint32_t seed : test_seeds(4)) {
    SCOPED_TRACE(seed_note(seed));
    std::mt19937 rng(seed);
    for (int32_t n : kLengths) {
      const LightningHeadData data(rng, n, 24, 32);
      const float sl = data.slope;
      SCOPED_TRACE("n_tokens " + std::to_string(n) + ", slope " + std::to_string(sl));
      check_forms(data, kLightningBlockSize, [sl](const HeadSequence& h, float* s) { lightning_recurrent(h, sl, s); },
                  [sl](const HeadSequence& h, float* s) { lightning_quadratic(h, sl, s); },
                  [sl](const HeadSequence& h, int32_t block, float* s) { lightning_chunked(h, sl, block, s); }, worst);
    }
  }
  std::printf("lightning attention: worst relative error between forms %.3g\n", worst);
}

// ---------------------------------------------------------------------------------------------
// The cells over ragged batches

// A step's share of one sequence: its tokens [start, start + count).
struct Piece {
  int32_t seq, start, count;
};
using Schedule = std::vector<std::vector<Piece>>;  // steps, each a ragged batch

// Lengths with a single token, chunk edges and random ones, in random order.
std::vector<int32_t> random_lengths(std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> len(2, 200);
  std::vector<int32_t> lengths = {1, 64, 65, len(rng), len(rng), len(rng)};
  std::shuffle(lengths.begin(), lengths.end(), rng);
  return lengths;
}

Schedule one_shot(const std::vector<int32_t>& lengths) {
  Schedule steps(1);
  for (int32_t i = 0; i < static_cast<int32_t>(lengths.size()); ++i) steps[0].push_back({i, 0, lengths[i]});
  return steps;
}

Schedule token_by_token(const std::vector<int32_t>& lengths) {
  Schedule steps(static_cast<size_t>(*std::max_element(lengths.begin(), lengths.end())));
  for (int32_t i = 0; i < static_cast<int32_t>(lengths.size()); ++i) {
    for (int32_t t = 0; t < lengths[i]; ++t) steps[t].push_back({i, t, 1});
  }
  return steps;
}

// Each sequence cut into pieces of 1..max_piece tokens; step j runs every sequence's piece j,
// so single tokens and prefill chunks of other sequences share steps.
Schedule random_pieces(const std::vector<int32_t>& lengths, int32_t max_piece, std::mt19937& rng) {
  Schedule steps;
  for (int32_t i = 0; i < static_cast<int32_t>(lengths.size()); ++i) {
    size_t j = 0;
    for (int32_t start = 0; start < lengths[i]; ++j) {
      const int32_t count = std::min(lengths[i] - start, std::uniform_int_distribution<int32_t>(1, max_piece)(rng));
      if (steps.size() <= j) steps.emplace_back();
      steps[j].push_back({i, start, count});
      start += count;
    }
  }
  return steps;
}

// Each sequence of two or more tokens split once at a random point.
Schedule split_in_two(const std::vector<int32_t>& lengths, std::mt19937& rng) {
  Schedule steps(2);
  for (int32_t i = 0; i < static_cast<int32_t>(lengths.size()); ++i) {
    if (lengths[i] == 1) {
      steps[0].push_back({i, 0, 1});
      continue;
    }
    const int32_t cut = std::uniform_int_distribution<int32_t>(1, lengths[i] - 1)(rng);
    steps[0].push_back({i, 0, cut});
    steps[1].push_back({i, cut, lengths[i] - cut});
  }
  return steps;
}

// What a schedule left: each sequence's outputs (token-major) and its slot's contents.
struct CellResult {
  std::vector<std::vector<float>> outputs;
  std::vector<std::vector<float>> slots;
};

void expect_close(const CellResult& got, const CellResult& ref, double& worst) {
  for (size_t i = 0; i < ref.outputs.size(); ++i) {
    SCOPED_TRACE("sequence " + std::to_string(i));
    for (double e : {relative_error(got.outputs[i], ref.outputs[i]), relative_error(got.slots[i], ref.slots[i])}) {
      EXPECT_LT(e, kFormTolerance);
      worst = std::max(worst, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
    }
  }
}

// Runs a schedule through a cell. Per-token inputs of each sequence are rows of `in_width`
// floats; `run_step(plan, inputs, outputs, slots)` runs the cell on gathered rows.
template <typename RunStep>
CellResult run_schedule(const Schedule& steps, const std::vector<std::vector<float>>& inputs, int64_t in_width,
                        int64_t out_width, const std::vector<int32_t>& slot_of, RecurrentStateStore& store,
                        const RunStep& run_step) {
  // Garbage in every slot: a fresh sequence must not read what a slot held before.
  const StateSlots slots = store.layer(0);
  std::fill(slots.base, slots.base + slots.slot_floats * slots.n_slots, std::numeric_limits<float>::quiet_NaN());
  CellResult result;
  for (const std::vector<float>& in : inputs) result.outputs.emplace_back(in.size() / in_width * out_width);
  for (const std::vector<Piece>& step : steps) {
    std::vector<LinearSequence> batch;
    std::vector<float> in_rows;
    for (const Piece& p : step) {
      batch.push_back({slot_of[p.seq], p.start, p.count});
      const float* first = inputs[p.seq].data() + p.start * in_width;
      in_rows.insert(in_rows.end(), first, first + p.count * in_width);
    }
    const LinearBatchPlan plan = plan_linear_batch(batch, store.n_slots());
    std::vector<float> out_rows(static_cast<size_t>(plan.n_rows * out_width), std::numeric_limits<float>::quiet_NaN());
    run_step(plan, in_rows, out_rows, slots);
    for (size_t k = 0; k < step.size(); ++k) {
      const Piece& p = step[k];
      std::copy_n(out_rows.data() + plan.sequences[k].first_row * out_width, p.count * out_width,
                  result.outputs[p.seq].data() + p.start * out_width);
    }
  }
  for (int32_t slot : slot_of) result.slots.emplace_back(slots.slot(slot), slots.slot(slot) + slots.slot_floats);
  return result;
}

// Distinct random slots out of a few more than needed.
std::vector<int32_t> random_slots(size_t n, int32_t n_slots, std::mt19937& rng) {
  std::vector<int32_t> all(static_cast<size_t>(n_slots));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(n);
  return all;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// A GatedDeltaNet layer's cell with random weights of plausible scale (A in [1, 16] as
// Qwen3-Next initialises it), and a double-precision reference of the whole cell.
struct GatedDeltaNetFixture {
  GatedDeltaNetShape shape{.n_k_heads = 2, .n_v_heads = 4, .d_k = 16, .d_v = 12};
  std::vector<float> conv_weight, a_log, dt_bias;

  explicit GatedDeltaNetFixture(std::mt19937& rng) {
    conv_weight = normals(rng, static_cast<size_t>(shape.conv_channels() * shape.conv_kernel), 0.5f);
    std::uniform_real_distribution<float> a_range(1.0f, 16.0f);
    for (int32_t h = 0; h < shape.n_v_heads; ++h) a_log.push_back(std::log(a_range(rng)));
    dt_bias = normals(rng, static_cast<size_t>(shape.n_v_heads), 1.0f);
  }
  int64_t in_width() const { return shape.conv_channels() + 2 * shape.n_v_heads; }  // mixed_qkv | a | b
  int64_t out_width() const { return shape.value_dim(); }

  // Columns [from, from + width) of input rows: one of the cell's three input tensors.
  std::vector<float> columns(const std::vector<float>& rows, int64_t from, int64_t width) const {
    std::vector<float> cols;
    for (size_t r = 0; r < rows.size() / static_cast<size_t>(in_width()); ++r) {
      const auto first = rows.begin() + static_cast<int64_t>(r) * in_width() + from;
      cols.insert(cols.end(), first, first + width);
    }
    return cols;
  }

  std::vector<float> random_inputs(std::mt19937& rng, int32_t n_tokens) const {
    std::vector<float> rows = normals(rng, static_cast<size_t>(n_tokens * in_width()), 1.0f);
    // a - 4: decays from mild to strong, as a trained layer's spread of a + dt_bias gives.
    for (int32_t t = 0; t < n_tokens; ++t) {
      for (int32_t h = 0; h < shape.n_v_heads; ++h) rows[t * in_width() + shape.conv_channels() + h] -= 4.0f;
    }
    return rows;
  }

  // The slot after the sequence (recurrent state then conv history) and the outputs, in double.
  std::pair<std::vector<float>, std::vector<float>> reference(const std::vector<float>& rows) const {
    const GatedDeltaNetShape& s = shape;
    const int64_t channels = s.conv_channels();
    const int32_t n = static_cast<int32_t>(rows.size() / in_width());
    const int32_t history = s.conv_kernel - 1;
    auto x = [&](int64_t t, int64_t c) { return t < 0 ? 0.0 : static_cast<double>(rows[t * in_width() + c]); };
    std::vector<double> state(static_cast<size_t>(s.recurrent_floats()), 0.0);
    std::vector<float> out(static_cast<size_t>(n * out_width()));
    std::vector<double> y(static_cast<size_t>(channels));
    for (int32_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < channels; ++c) {
        double acc = 0.0;
        for (int32_t i = 0; i < s.conv_kernel; ++i) acc += conv_weight[c * s.conv_kernel + i] * x(t - history + i, c);
        y[c] = acc * sigmoid(acc);
      }
      for (int32_t h = 0; h < s.n_v_heads; ++h) {
        const int64_t kh = h / (s.n_v_heads / s.n_k_heads);
        std::vector<double> q(y.begin() + kh * s.d_k, y.begin() + (kh + 1) * s.d_k);
        std::vector<double> k(y.begin() + s.key_dim() + kh * s.d_k, y.begin() + s.key_dim() + (kh + 1) * s.d_k);
        const double* v = y.data() + 2 * s.key_dim() + h * s.d_v;
        for (std::vector<double>* vec : {&q, &k}) {
          double sum = 0.0;
          for (double e : *vec) sum += e * e;
          const double f = (vec == &q ? 1.0 / std::sqrt(static_cast<double>(s.d_k)) : 1.0) / std::sqrt(sum + 1e-6);
          for (double& e : *vec) e *= f;
        }
        const double a = rows[t * in_width() + channels + h];
        const double b = rows[t * in_width() + channels + s.n_v_heads + h];
        const double decay = std::exp(-std::exp(static_cast<double>(a_log[h])) * std::log1p(std::exp(a + dt_bias[h])));
        double* st = state.data() + static_cast<int64_t>(h) * s.d_k * s.d_v;
        for (int64_t i = 0; i < static_cast<int64_t>(s.d_k) * s.d_v; ++i) st[i] *= decay;
        for (int32_t j = 0; j < s.d_v; ++j) {
          double recall = 0.0;
          for (int32_t i = 0; i < s.d_k; ++i) recall += st[i * s.d_v + j] * k[i];
          const double delta = sigmoid(b) * (v[j] - recall);
          for (int32_t i = 0; i < s.d_k; ++i) st[i * s.d_v + j] += k[i] * delta;
        }
        for (int32_t j = 0; j < s.d_v; ++j) {
          double o = 0.0;
          for (int32_t i = 0; i < s.d_k; ++i) o += st[i * s.d_v + j] * q[i];
          out[t * out_width() + h * s.d_v + j] = static_cast<float>(o);
        }
      }
    }
    std::vector<float> slot(state.begin(), state.end());
    for (int32_t r = 0; r < history; ++r) {
      for (int64_t c = 0; c < channels; ++c) slot.push_back(static_cast<float>(x(n - history + r, c)));
    }
    return {slot, out};
  }
};

// Fresh inputs for ragged lengths through a cell, each schedule against the one-shot prefill
// and that against the fixture's double-precision reference. `run_step(plan, rows, out, slots)`
// runs the cell on a step's gathered input rows.
template <typename Fixture, typename RunStep>
void check_schedules(std::mt19937& rng, const Fixture& fx, const RunStep& run_step, double& worst) {
  const std::vector<int32_t> lengths = random_lengths(rng);
  std::vector<std::vector<float>> inputs;
  CellResult ref;
  for (int32_t n : lengths) {
    inputs.push_back(fx.random_inputs(rng, n));
    auto [slot, out] = fx.reference(inputs.back());
    ref.slots.push_back(std::move(slot));
    ref.outputs.push_back(std::move(out));
  }
  RecurrentStateStore store(1, static_cast<int32_t>(lengths.size()) + 3, fx.shape.slot_floats());
  const std::vector<int32_t> slot_of = random_slots(lengths.size(), store.n_slots(), rng);
  const auto run = [&](const Schedule& steps) {
    return run_schedule(steps, inputs, fx.in_width(), fx.out_width(), slot_of, store, run_step);
  };
  const CellResult whole = run(one_shot(lengths));
  {
    SCOPED_TRACE("one-shot prefill vs double reference");
    expect_close(whole, ref, worst);
  }
  {
    SCOPED_TRACE("decode token by token vs one-shot");
    expect_close(run(token_by_token(lengths)), whole, worst);
  }
  {
    SCOPED_TRACE("prefill split in two vs one-shot");
    expect_close(run(split_in_two(lengths, rng)), whole, worst);
  }
  {
    SCOPED_TRACE("random pieces (decodes and chunks mixed) vs one-shot");
    expect_close(run(random_pieces(lengths, 70, rng)), whole, worst);
  }
}

TEST(GatedDeltaNetCell, OneShotStepwiseSplitAndReferenceAgree) {
  double worst = 0.0;
  for (uint32_t seed : test_seeds(3)) {
    SCOPED_TRACE(seed_note(seed));
    std::mt19937 rng(seed);
    const GatedDeltaNetFixture fx(rng);
    const GatedDeltaNetCell cell(fx.shape, {fx.conv_weight.data(), fx.a_log.data(), fx.dt_bias.data()});
    check_schedules(rng, fx, [&](const LinearBatchPlan& plan, const std::vector<float>& in, std::vector<float>& out,
                                 const StateSlots& slots) {
      const std::vector<float> qkv = fx.columns(in, 0, fx.shape.conv_channels());
      const std::vector<float> a = fx.columns(in, fx.shape.conv_channels(), fx.shape.n_v_heads);
      const std::vector<float> b = fx.columns(in, fx.shape.conv_channels() + fx.shape.n_v_heads, fx.shape.n_v_heads);
      cell.run(plan, {qkv.data(), a.data(), b.data(), out.data()}, slots);
    }, worst);
  }
  std::printf("gated delta net cell: worst relative error %.3g\n", worst);
}

// A lightning layer's cell: heads of d_k != d_v (so a transposed state shows), q, k, v
// interleaved per head as MiniMax's one projection lays them out.
struct LightningFixture {
  LightningShape shape{.n_heads = 3, .d_k = 12, .d_v = 16};
  std::vector<float> slopes;

  explicit LightningFixture(std::mt19937& rng) {
    for (int32_t h = 0; h < shape.n_heads; ++h) slopes.push_back(random_slope(rng));
  }
  int64_t head_width() const { return 2 * shape.d_k + shape.d_v; }  // q | k | v of one head
  int64_t in_width() const { return shape.n_heads * head_width(); }
  int64_t out_width() const { return static_cast<int64_t>(shape.n_heads) * shape.d_v; }
  std::vector<float> random_inputs(std::mt19937& rng, int32_t n_tokens) const {
    return silu_normals(rng, static_cast<size_t>(n_tokens * in_width()));
  }

  std::pair<std::vector<float>, std::vector<float>> reference(const std::vector<float>& rows) const {
    const int32_t n = static_cast<int32_t>(rows.size() / in_width());
    const int64_t head_floats = static_cast<int64_t>(shape.d_k) * shape.d_v;
    std::vector<double> state(static_cast<size_t>(shape.n_heads * head_floats), 0.0);
    std::vector<float> out(static_cast<size_t>(n * out_width()));
    for (int32_t t = 0; t < n; ++t) {
      for (int32_t h = 0; h < shape.n_heads; ++h) {
        const float* q = rows.data() + t * in_width() + h * head_width();
        const float* k = q + shape.d_k;
        const float* v = k + shape.d_k;
        double* st = state.data() + h * head_floats;
        const double decay = std::exp(-static_cast<double>(slopes[h]));
        for (int32_t i = 0; i < shape.d_k; ++i) {
          for (int32_t j = 0; j < shape.d_v; ++j) st[i * shape.d_v + j] = decay * st[i * shape.d_v + j] + k[i] * static_cast<double>(v[j]);
        }
        for (int32_t j = 0; j < shape.d_v; ++j) {
          double o = 0.0;
          for (int32_t i = 0; i < shape.d_k; ++i) o += st[i * shape.d_v + j] * q[i];
          out[t * out_width() + h * shape.d_v + j] = static_cast<float>(o);
        }
      }
    }
    return {std::vector<float>(state.begin(), state.end()), out};
  }
};

TEST(LightningAttentionCell, OneShotStepwiseSplitAndReferenceAgree) {
  double worst = 0.0;
  for (uint32_t seed : test_seeds(3)) {
    SCOPED_TRACE(seed_note(seed));
    std::mt19937 rng(seed);
    const LightningFixture fx(rng);
    const LightningAttentionCell cell(fx.shape, fx.slopes.data());
    check_schedules(rng, fx, [&](const LinearBatchPlan& plan, const std::vector<float>& in, std::vector<float>& out,
                                 const StateSlots& slots) {
      const int64_t w = fx.in_width();
      const int64_t hw = fx.head_width();
      const LightningStep step{{in.data(), w, hw}, {in.data() + fx.shape.d_k, w, hw}, {in.data() + 2 * fx.shape.d_k, w, hw},
                               out.data()};
      cell.run(plan, step, slots);
    }, worst);
  }
  std::printf("lightning attention cell: worst relative error %.3g\n", worst);
}

// n > 1 sampling forks a sequence: kvcache hands the engine a slot copy. The child then runs
// exactly as the parent would, and the parent's slot is untouched by the child's steps.
TEST(RecurrentStateStore, ForkedSlotContinuesLikeItsParent) {
  const uint32_t seed = test_seeds(1)[0];
  SCOPED_TRACE(seed_note(seed));
  std::mt19937 rng(seed);
  const GatedDeltaNetFixture fx(rng);
  const GatedDeltaNetCell cell(fx.shape, {fx.conv_weight.data(), fx.a_log.data(), fx.dt_bias.data()});
  RecurrentStateStore store(2, 4, fx.shape.slot_floats());
  // What kvcache's recurrent_state group is told one slot costs: every layer's state, fp32.
  EXPECT_EQ(store.bytes_per_sequence(), 2 * 4 * fx.shape.slot_floats());
  const std::vector<float> prompt = fx.random_inputs(rng, 70);
  const std::vector<float> next = fx.random_inputs(rng, 1);
  const int64_t c = fx.shape.conv_channels();
  const int64_t nv = fx.shape.n_v_heads;
  auto run = [&](const std::vector<LinearSequence>& batch, const std::vector<float>& rows, int32_t layer) {
    const std::vector<float> qkv = fx.columns(rows, 0, c), a = fx.columns(rows, c, nv), b = fx.columns(rows, c + nv, nv);
    std::vector<float> out(rows.size() / static_cast<size_t>(fx.in_width()) * static_cast<size_t>(fx.out_width()));
    cell.run(plan_linear_batch(batch, store.n_slots()), {qkv.data(), a.data(), b.data(), out.data()}, store.layer(layer));
    return out;
  };
  for (int32_t layer : {0, 1}) run({{1, 0, 70}}, prompt, layer);
  store.copy_slot(1, 3);
  std::vector<float> twice = next;
  twice.insert(twice.end(), next.begin(), next.end());
  for (int32_t layer : {0, 1}) {
    const std::vector<float> out = run({{1, 70, 1}, {3, 70, 1}}, twice, layer);
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + fx.out_width(), out.begin() + fx.out_width())) << "layer " << layer;
    const StateSlots slots = store.layer(layer);
    EXPECT_TRUE(std::equal(slots.slot(1), slots.slot(1) + slots.slot_floats, slots.slot(3))) << "layer " << layer;
  }
  const StateSlots layer1 = store.layer(1);
  const std::vector<float> parent(layer1.slot(1), layer1.slot(1) + layer1.slot_floats);
  run({{3, 71, 1}}, next, 1);
  EXPECT_TRUE(std::equal(parent.begin(), parent.end(), layer1.slot(1)));
  EXPECT_FALSE(std::equal(parent.begin(), parent.end(), layer1.slot(3)));
}

TEST(LinearBatchPlan, LaysOutRowsAndRefusesBadBatches) {
  const std::vector<LinearSequence> batch = {{2, 0, 5}, {0, 9, 1}, {1, 3, 64}};
  const LinearBatchPlan plan = plan_linear_batch(batch, 3);
  ASSERT_EQ(plan.sequences.size(), 3u);
  EXPECT_EQ(plan.n_rows, 70);
  EXPECT_EQ(plan.sequences[1].first_row, 5);
  EXPECT_EQ(plan.sequences[2].first_row, 6);
  EXPECT_TRUE(plan.sequences[0].fresh);
  EXPECT_FALSE(plan.sequences[1].fresh);
  const std::vector<std::vector<LinearSequence>> bad = {
      {{0, 0, 0}}, {{0, -1, 1}}, {{3, 0, 1}}, {{-1, 0, 1}}, {{1, 0, 2}, {1, 4, 1}}};
  for (const std::vector<LinearSequence>& b : bad) EXPECT_THROW(plan_linear_batch(b, 3), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Against transformers' own layers: tests/golden/linear_attention/, made by
// tests/golden/gen_linear_attention_fixtures.py from Qwen3NextGatedDeltaNet and
// MiniMaxLightningAttention with random weights, several calls per sequence through their caches.

nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(test::source_path("tests/golden/linear_attention/" + name + ".json"));
  if (!in) throw std::runtime_error("missing fixture " + name);
  return nlohmann::json::parse(in);
}

std::vector<float> floats(const nlohmann::json& j) { return j.get<std::vector<float>>(); }

// Runs every fixture sequence's calls through a cell in ragged steps (step j batches call j of
// each sequence that has one; sequences in slots in reverse order) and compares each call's
// outputs. `gather(step, name)` concatenates a per-call input array over the batch;
// `run_step(plan, gather, out, slots)` runs the cell. Returns the store and slot of each sequence.
template <typename RunStep>
RecurrentStateStore run_fixture(const nlohmann::json& sequences, int64_t slot_floats, int64_t out_width,
                                const RunStep& run_step, double& worst) {
  const int32_t n_seqs = static_cast<int32_t>(sequences.size());
  RecurrentStateStore store(1, n_seqs, slot_floats);
  size_t n_calls = 0;
  for (const nlohmann::json& seq : sequences) n_calls = std::max(n_calls, seq["steps"].size());
  std::vector<int32_t> position(static_cast<size_t>(n_seqs), 0);
  for (size_t j = 0; j < n_calls; ++j) {
    std::vector<LinearSequence> batch;
    std::vector<const nlohmann::json*> calls;
    for (int32_t i = 0; i < n_seqs; ++i) {
      if (j >= sequences[i]["steps"].size()) continue;
      calls.push_back(&sequences[i]["steps"][j]);
      const int32_t n = calls.back()->at("n_tokens").get<int32_t>();
      batch.push_back({n_seqs - 1 - i, position[i], n});
      position[i] += n;
    }
    auto gather = [&](const char* name) {
      std::vector<float> all;
      for (const nlohmann::json* call : calls) {
        const std::vector<float> part = floats(call->at(name));
        all.insert(all.end(), part.begin(), part.end());
      }
      return all;
    };
    const LinearBatchPlan plan = plan_linear_batch(batch, store.n_slots());
    std::vector<float> out(static_cast<size_t>(plan.n_rows * out_width));
    run_step(plan, gather, out, store.layer(0));
    for (size_t k = 0; k < calls.size(); ++k) {
      SCOPED_TRACE("call " + std::to_string(j) + " of batch entry " + std::to_string(k));
      const auto first = out.begin() + plan.sequences[k].first_row * out_width;
      const std::vector<float> got(first, first + plan.sequences[k].n_tokens * out_width);
      const double e = relative_error(got, floats(calls[k]->at("out")));
      EXPECT_LT(e, kFormTolerance);
      worst = std::max(worst, e);
    }
  }
  return store;
}

TEST(GatedDeltaNetCell, MatchesTransformersQwen3NextLayer) {
  const nlohmann::json fx = load_fixture("qwen3_next_gated_delta_net");
  const nlohmann::json& sh = fx["shape"];
  const GatedDeltaNetShape shape{.n_k_heads = sh["n_k_heads"], .n_v_heads = sh["n_v_heads"], .d_k = sh["d_k"],
                                 .d_v = sh["d_v"], .conv_kernel = sh["conv_kernel"]};
  const std::vector<float> conv_weight = floats(fx["weights"]["conv_weight"]);
  const std::vector<float> a_log = floats(fx["weights"]["a_log"]);
  const std::vector<float> dt_bias = floats(fx["weights"]["dt_bias"]);
  const GatedDeltaNetCell cell(shape, {conv_weight.data(), a_log.data(), dt_bias.data()});
  double worst = 0.0;
  const nlohmann::json& sequences = fx["sequences"];
  RecurrentStateStore store = run_fixture(sequences, shape.slot_floats(), shape.value_dim(),
      [&](const LinearBatchPlan& plan, const auto& gather, std::vector<float>& out, const StateSlots& slots) {
        const std::vector<float> qkv = gather("mixed_qkv"), a = gather("a"), b = gather("b");
        cell.run(plan, {qkv.data(), a.data(), b.data(), out.data()}, slots);
      }, worst);
  const int32_t n_seqs = static_cast<int32_t>(sequences.size());
  const int64_t channels = shape.conv_channels();
  for (int32_t i = 0; i < n_seqs; ++i) {
    SCOPED_TRACE("final state of sequence " + std::to_string(i));
    const float* slot = store.layer(0).slot(n_seqs - 1 - i);
    const std::vector<float> recurrent(slot, slot + shape.recurrent_floats());
    const double e = relative_error(recurrent, floats(sequences[i]["final_recurrent_state"]));
    EXPECT_LT(e, kFormTolerance);
    worst = std::max(worst, e);
    // transformers keeps [channels][kernel] inputs, newest last; the slot the last kernel - 1 of
    // them, [kernel - 1][channels]. Both are copies of inputs: equal exactly.
    const std::vector<float> theirs = floats(sequences[i]["final_conv_inputs"]);
    for (int32_t r = 0; r < shape.conv_kernel - 1; ++r) {
      for (int64_t c = 0; c < channels; ++c) {
        ASSERT_EQ(slot[shape.recurrent_floats() + r * channels + c], theirs[c * shape.conv_kernel + r + 1]) << "row " << r;
      }
    }
  }
  std::printf("gated delta net cell vs transformers Qwen3NextGatedDeltaNet: worst relative error %.3g\n", worst);
}

TEST(LightningAttentionCell, MatchesTransformersMiniMaxLayer) {
  const nlohmann::json fx = load_fixture("minimax_lightning_attention");
  const int32_t d = fx["shape"]["head_dim"];
  const LightningShape shape{.n_heads = fx["shape"]["n_heads"], .d_k = d, .d_v = d, .block_size = fx["shape"]["block_size"]};
  const std::vector<float> slopes = floats(fx["weights"]["slopes"]);
  const LightningAttentionCell cell(shape, slopes.data());
  double worst = 0.0;
  const nlohmann::json& sequences = fx["sequences"];
  const int64_t row = 3LL * d * shape.n_heads;
  RecurrentStateStore store = run_fixture(sequences, shape.slot_floats(), static_cast<int64_t>(shape.n_heads) * d,
      [&](const LinearBatchPlan& plan, const auto& gather, std::vector<float>& out, const StateSlots& slots) {
        const std::vector<float> qkv = gather("qkv");  // MiniMax's layout: q | k | v per head
        cell.run(plan, {{qkv.data(), row, 3 * d}, {qkv.data() + d, row, 3 * d}, {qkv.data() + 2 * d, row, 3 * d}, out.data()},
                 slots);
      }, worst);
  const int32_t n_seqs = static_cast<int32_t>(sequences.size());
  for (int32_t i = 0; i < n_seqs; ++i) {
    SCOPED_TRACE("final state of sequence " + std::to_string(i));
    const float* slot = store.layer(0).slot(n_seqs - 1 - i);
    const double e = relative_error(std::vector<float>(slot, slot + shape.slot_floats()), floats(sequences[i]["final_state"]));
    EXPECT_LT(e, kFormTolerance);
    worst = std::max(worst, e);
  }
  std::printf("lightning attention cell vs transformers MiniMaxLightningAttention: worst relative error %.3g\n", worst);
}

}  // namespace
}  // namespace strata::attention::linear
