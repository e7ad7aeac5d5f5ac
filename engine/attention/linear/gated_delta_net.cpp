#include "engine/attention/linear/gated_delta_net.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/attention/linear/causal_conv1d.h"
#include "engine/attention/linear/parallel_tasks.h"

namespace strata::attention::linear {
namespace {

// x *= scale / sqrt(sum x^2 + 1e-6): FLA's and transformers' l2norm epsilon.
void l2_normalize(float* x, int32_t n, float scale) {
  double sum = 0.0;
  for (int32_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float factor = scale / static_cast<float>(std::sqrt(sum + 1e-6));
  for (int32_t i = 0; i < n; ++i) x[i] *= factor;
}

// torch.nn.functional.softplus with its default threshold of 20.
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace

GatedDeltaNetCell::GatedDeltaNetCell(GatedDeltaNetShape shape, GatedDeltaNetWeights weights)
    : shape_(shape), weights_(weights) {
  if (shape.n_k_heads < 1 || shape.n_v_heads < 1 || shape.d_k < 1 || shape.d_v < 1) {
    throw std::invalid_argument("GatedDeltaNet: heads and head dims must be positive");
  }
  if (shape.n_v_heads % shape.n_k_heads != 0) throw std::invalid_argument("GatedDeltaNet: value heads not a multiple of key heads");
  if (shape.conv_kernel < 1 || shape.chunk_size < 1) throw std::invalid_argument("GatedDeltaNet: conv kernel and chunk size must be positive");
  if (weights.conv_weight == nullptr || weights.a_log == nullptr || weights.dt_bias == nullptr) {
    throw std::invalid_argument("GatedDeltaNet: missing weights");
  }
}

void GatedDeltaNetCell::run(const LinearBatchPlan& plan, const GatedDeltaNetStep& step, const StateSlots& slots,
                            cpu::ThreadPool* pool) const {
  const GatedDeltaNetShape& s = shape_;
  if (slots.slot_floats < s.slot_floats()) throw std::invalid_argument("GatedDeltaNet: state slots too small");
  const int64_t channels = s.conv_channels();
  const int64_t n_seqs = static_cast<int64_t>(plan.sequences.size());
  std::vector<float> conv_out(static_cast<size_t>(plan.n_rows * channels));
  std::vector<float> log_decay(static_cast<size_t>(plan.n_rows * s.n_v_heads));
  std::vector<float> beta(log_decay.size());

  // Per sequence: fresh slots start from zero; convolution; q/k normalisation; gates.
  run_tasks(n_seqs, pool, [&](int64_t i) {
    const LinearSequencePlan& seq = plan.sequences[i];
    float* slot = slots.slot(seq.slot);
    if (seq.fresh) std::fill(slot, slot + s.slot_floats(), 0.0f);
    const int64_t row0 = seq.first_row;
    causal_conv1d_silu({step.mixed_qkv + row0 * channels, channels}, seq.n_tokens, channels, weights_.conv_weight,
                       s.conv_kernel, slot + s.recurrent_floats(), {conv_out.data() + row0 * channels, channels});
    const float q_scale = 1.0f / std::sqrt(static_cast<float>(s.d_k));
    for (int64_t r = row0; r < row0 + seq.n_tokens; ++r) {
      float* row = conv_out.data() + r * channels;
      for (int32_t h = 0; h < s.n_k_heads; ++h) {
        l2_normalize(row + static_cast<int64_t>(h) * s.d_k, s.d_k, q_scale);
        l2_normalize(row + s.key_dim() + static_cast<int64_t>(h) * s.d_k, s.d_k, 1.0f);
      }
      for (int32_t h = 0; h < s.n_v_heads; ++h) {
        const int64_t at = r * s.n_v_heads + h;
        log_decay[at] = -std::exp(weights_.a_log[h]) * softplus(step.a[at] + weights_.dt_bias[h]);
        beta[at] = 1.0f / (1.0f + std::exp(-step.b[at]));
      }
    }
  });

  // Per (sequence, value head): the delta rule on the head's slice of the slot.
  const int32_t group = s.n_v_heads / s.n_k_heads;
  const int64_t out_stride = s.value_dim();
  run_tasks(n_seqs * s.n_v_heads, pool, [&](int64_t task) {
    const LinearSequencePlan& seq = plan.sequences[task / s.n_v_heads];
    const int32_t h = static_cast<int32_t>(task % s.n_v_heads);
    const int64_t k_head = h / group;  // Qwen3-Next repeat_interleaves key heads over value heads
    const float* rows = conv_out.data() + seq.first_row * channels;
    const int64_t gate0 = seq.first_row * s.n_v_heads + h;
    DeltaRuleHead head;
    head.n_tokens = seq.n_tokens;
    head.d_k = s.d_k;
    head.d_v = s.d_v;
    head.q = {rows + k_head * s.d_k, channels};
    head.k = {rows + s.key_dim() + k_head * s.d_k, channels};
    head.v = {rows + 2 * s.key_dim() + static_cast<int64_t>(h) * s.d_v, channels};
    head.g = {log_decay.data() + gate0, s.n_v_heads};
    head.beta = {beta.data() + gate0, s.n_v_heads};
    head.out = {step.out + seq.first_row * out_stride + static_cast<int64_t>(h) * s.d_v, out_stride};
    float* state = slots.slot(seq.slot) + static_cast<int64_t>(h) * s.d_k * s.d_v;
    if (seq.n_tokens == 1) {
      gated_delta_recurrent(head, state);
    } else {
      gated_delta_chunked(head, s.chunk_size, state);
    }
  });
}

}  // namespace strata::attention::linear
