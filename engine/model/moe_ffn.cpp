#include "engine/model/moe_ffn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/cpu/ops.h"
#include "engine/model/gguf_weights.h"

namespace strata::model {

ExpertChoice choose_experts(std::span<const float> router_logits, int32_t n_used, bool renormalize) {
  const float top = *std::ranges::max_element(router_logits);
  std::vector<double> p(router_logits.size());
  double total = 0.0;
  for (size_t e = 0; e < p.size(); ++e) total += p[e] = std::exp(static_cast<double>(router_logits[e] - top));
  std::vector<int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  const auto used = std::min<size_t>(static_cast<size_t>(n_used), order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(used), order.end(), [&](int32_t a, int32_t b) {
    return p[static_cast<size_t>(a)] != p[static_cast<size_t>(b)] ? p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)] : a < b;
  });
  ExpertChoice choice;
  double kept = 0.0;
  for (size_t i = 0; i < used; ++i) kept += p[static_cast<size_t>(order[i])];
  for (size_t i = 0; i < used; ++i) {
    const double weight = p[static_cast<size_t>(order[i])] / (renormalize ? kept : total);
    choice.experts.push_back(order[i]);
    choice.weights.push_back(static_cast<float>(weight));
  }
  return choice;
}

MoeFfn::MoeFfn(const gguf::GgufFile& file, const std::string& prefix, const ModelConfig& config)
    : shape_(config.moe), n_embd_(config.n_embd) {
  const int64_t e = shape_.n_experts, d = n_embd_, f = shape_.n_ff_expert, s = shape_.n_ff_shared;
  router_ = load_matrix(file, prefix + "ffn_gate_inp.weight", e, d);
  gate_ = load_matrices(file, prefix + "ffn_gate_exps.weight", e, f, d);
  up_ = load_matrices(file, prefix + "ffn_up_exps.weight", e, f, d);
  down_ = load_matrices(file, prefix + "ffn_down_exps.weight", e, d, f);
  shared_scale_ = load_vector(file, prefix + "ffn_gate_inp_shexp.weight", d);
  shared_gate_ = load_matrix(file, prefix + "ffn_gate_shexp.weight", s, d);
  shared_up_ = load_matrix(file, prefix + "ffn_up_shexp.weight", s, d);
  shared_down_ = load_matrix(file, prefix + "ffn_down_shexp.weight", d, s);
}

void MoeFfn::run_expert(const cpu::WeightMatrix& gate, const cpu::WeightMatrix& up, const cpu::WeightMatrix& down,
                        const float* x, int64_t rows, float* y, cpu::MatmulScratch& scratch, cpu::ThreadPool& pool) const {
  const int64_t width = gate.rows();
  gate_out_.resize(static_cast<size_t>(rows * width));
  up_out_.resize(gate_out_.size());
  cpu::matmul(gate, x, rows, gate_out_.data(), scratch, pool);
  cpu::matmul(up, x, rows, up_out_.data(), scratch, pool);
  cpu::swiglu(gate_out_.data(), up_out_.data(), gate_out_.data(), rows * width);
  cpu::matmul(down, gate_out_.data(), rows, y, scratch, pool);
}

void MoeFfn::forward(const float* h, int64_t n, float* out, cpu::MatmulScratch& scratch, cpu::ThreadPool& pool) const {
  const int64_t d = n_embd_, e = shape_.n_experts;
  logits_.resize(static_cast<size_t>(n * e));
  cpu::matmul(router_, h, n, logits_.data(), scratch, pool);
  // Each expert's tokens and their weights, in token order.
  std::vector<std::vector<std::pair<int64_t, float>>> picked(static_cast<size_t>(e));
  for (int64_t t = 0; t < n; ++t) {
    const ExpertChoice choice =
        choose_experts(std::span<const float>(logits_).subspan(static_cast<size_t>(t * e), static_cast<size_t>(e)),
                       shape_.n_used, shape_.renormalize);
    for (size_t i = 0; i < choice.experts.size(); ++i) {
      picked[static_cast<size_t>(choice.experts[i])].emplace_back(t, choice.weights[i]);
    }
  }
  std::fill(out, out + n * d, 0.0f);
  for (int64_t x = 0; x < e; ++x) {  // in expert order, as transformers adds them
    const auto& tokens = picked[static_cast<size_t>(x)];
    if (tokens.empty()) continue;
    const auto rows = static_cast<int64_t>(tokens.size());
    rows_in_.resize(static_cast<size_t>(rows * d));
    rows_out_.resize(rows_in_.size());
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(h + tokens[static_cast<size_t>(r)].first * d, d, rows_in_.begin() + r * d);
    }
    run_expert(gate_[static_cast<size_t>(x)], up_[static_cast<size_t>(x)], down_[static_cast<size_t>(x)], rows_in_.data(), rows,
               rows_out_.data(), scratch, pool);
    for (int64_t r = 0; r < rows; ++r) {
      const auto [t, weight] = tokens[static_cast<size_t>(r)];
      for (int64_t i = 0; i < d; ++i) out[t * d + i] += weight * rows_out_[static_cast<size_t>(r * d + i)];
    }
  }
  rows_out_.resize(static_cast<size_t>(n * d));
  run_expert(shared_gate_, shared_up_, shared_down_, h, n, rows_out_.data(), scratch, pool);
  for (int64_t t = 0; t < n; ++t) {
    const float* x = h + t * d;
    const float z = std::inner_product(x, x + d, shared_scale_.begin(), 0.0f);
    const float scale = 1.0f / (1.0f + std::exp(-z));
    for (int64_t i = 0; i < d; ++i) out[t * d + i] += scale * rows_out_[static_cast<size_t>(t * d + i)];
  }
}

}  // namespace strata::model
