#include "engine/model/gated_delta_net_layer.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/ops.h"
#include "engine/model/gguf_weights.h"

namespace strata::model {
namespace {

// A_log from llama.cpp's ssm_a = -exp(A_log).
std::vector<float> a_log_of(const gguf::GgufFile& f, const std::string& name, int32_t n) {
  std::vector<float> a = load_vector(f, name, n);
  for (float& v : a) {
    if (!(v < 0.0f)) throw gguf::FormatError("'" + f.path() + "': tensor '" + name + "' must be negative (-exp(A_log))");
    v = std::log(-v);
  }
  return a;
}

}  // namespace

GatedDeltaNetLayer::GatedDeltaNetLayer(const gguf::GgufFile& f, const std::string& p, const ModelConfig& c)
    : shape_(c.gated_delta_net),
      rms_eps_(c.rms_eps),
      in_qkvz_(load_matrix(f, p + "ssm_in.weight", 2 * (shape_.key_dim() + shape_.value_dim()), c.n_embd)),
      in_ba_(load_matrix(f, p + "ssm_ba.weight", 2 * shape_.n_v_heads, c.n_embd)),
      out_proj_(load_matrix(f, p + "ssm_out.weight", c.n_embd, shape_.value_dim())),
      conv_weight_(load_vector(f, p + "ssm_conv1d.weight", shape_.conv_channels() * shape_.conv_kernel)),
      a_log_(a_log_of(f, p + "ssm_a", shape_.n_v_heads)),
      dt_bias_(load_vector(f, p + "ssm_dt.bias", shape_.n_v_heads)),
      norm_(load_vector(f, p + "ssm_norm.weight", shape_.d_v)),
      cell_(shape_, {conv_weight_.data(), a_log_.data(), dt_bias_.data()}) {}

void GatedDeltaNetLayer::forward(const float* h, const attention::linear::LinearBatchPlan& plan,
                                 const attention::linear::StateSlots& slots, float* out, cpu::MatmulScratch& scratch,
                                 cpu::ThreadPool& pool) const {
  const auto& s = shape_;
  const int64_t n = plan.n_rows;
  const int64_t group = s.n_v_heads / s.n_k_heads;  // value heads per key head
  const int64_t group_values = group * s.d_v;
  const int64_t qkvz_cols = in_qkvz_.rows(), channels = s.conv_channels();
  std::vector<float> qkvz(static_cast<size_t>(n * qkvz_cols)), ba(static_cast<size_t>(n * 2 * s.n_v_heads));
  cpu::matmul(in_qkvz_, h, n, qkvz.data(), scratch, pool);
  cpu::matmul(in_ba_, h, n, ba.data(), scratch, pool);

  // transformers' fix_query_key_value_ordering: per key head g, its q, k, then the v and z of
  // its value heads; b then a. The cell takes q | k | v heads and a, b per value head.
  std::vector<float> mixed(static_cast<size_t>(n * channels)), z(static_cast<size_t>(n * s.value_dim()));
  std::vector<float> a(static_cast<size_t>(n * s.n_v_heads)), b(a.size());
  for (int64_t t = 0; t < n; ++t) {
    float* row = mixed.data() + t * channels;
    for (int64_t g = 0; g < s.n_k_heads; ++g) {
      const float* src = qkvz.data() + t * qkvz_cols + g * (2 * s.d_k + 2 * group_values);
      std::copy_n(src, s.d_k, row + g * s.d_k);
      std::copy_n(src + s.d_k, s.d_k, row + s.key_dim() + g * s.d_k);
      std::copy_n(src + 2 * s.d_k, group_values, row + 2 * s.key_dim() + g * group_values);
      std::copy_n(src + 2 * s.d_k + group_values, group_values, z.data() + t * s.value_dim() + g * group_values);
      const float* gates = ba.data() + t * 2 * s.n_v_heads + g * 2 * group;
      std::copy_n(gates, group, b.data() + t * s.n_v_heads + g * group);
      std::copy_n(gates + group, group, a.data() + t * s.n_v_heads + g * group);
    }
  }

  std::vector<float> core(static_cast<size_t>(n * s.value_dim()));
  cell_.run(plan, {mixed.data(), a.data(), b.data(), core.data()}, slots, &pool);
  // Gated RMSNorm per value head: norm(core) * weight * silu(z).
  for (int64_t head = 0; head < n * s.n_v_heads; ++head) {
    float* x = core.data() + head * s.d_v;
    cpu::rms_norm(x, norm_.data(), x, s.d_v, rms_eps_);
    cpu::swiglu(z.data() + head * s.d_v, x, x, s.d_v);
  }
  cpu::matmul(out_proj_, core.data(), n, out, scratch, pool);
}

}  // namespace strata::model
