#include "engine/cpu/ops.h"

#include <cmath>

#include "engine/common/half.h"
#include "engine/cpu/quant_dot.h"

namespace strata::cpu {

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i] * x[i]);  // float product, as the reference
  float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * weight[i];
}

void rope_adjacent_pairs(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base) {
  // theta_i = pos * base^(-2i/d), built by repeated multiplication like the reference does.
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(rope_dim));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < rope_dim; i += 2) {
    const float c = std::cos(theta), s = std::sin(theta);
    for (int h = 0; h < n_heads; ++h) {
      float* p = x + static_cast<int64_t>(h) * head_dim + i;
      const float x0 = p[0], x1 = p[1];
      p[0] = x0 * c - x1 * s;
      p[1] = x0 * s + x1 * c;
    }
    theta *= theta_scale;
  }
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void attention_one_query(const float* q, const uint16_t* k, const uint16_t* v, int64_t n_keys, int head,
                         int n_heads, int n_kv_heads, int head_dim, float scale, float* scores, float* out) {
  const int kv_head = head / (n_heads / n_kv_heads);
  const int64_t kv_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
  const float* qh = q + static_cast<int64_t>(head) * head_dim;

  float q_rounded[kMaxHeadDim];
  for (int d = 0; d < head_dim; ++d) q_rounded[d] = fp16_to_f32(f32_to_fp16(qh[d]));

  float max_score = -INFINITY;
  for (int64_t t = 0; t < n_keys; ++t) {
    scores[t] = dot_f16_f32(k + t * kv_stride + kv_head * head_dim, q_rounded, head_dim) * scale;
    max_score = std::fmax(max_score, scores[t]);
  }
  double sum = 0.0;
  for (int64_t t = 0; t < n_keys; ++t) {
    scores[t] = std::exp(scores[t] - max_score);
    sum += scores[t];
  }
  const float inv_sum = static_cast<float>(1.0 / sum);
  float* oh = out + static_cast<int64_t>(head) * head_dim;
  for (int d = 0; d < head_dim; ++d) oh[d] = 0.0f;
  for (int64_t t = 0; t < n_keys; ++t) {
    const float p = fp16_to_f32(f32_to_fp16(scores[t] * inv_sum));
    const uint16_t* vt = v + t * kv_stride + kv_head * head_dim;
    for (int d = 0; d < head_dim; ++d) oh[d] += p * fp16_to_f32(vt[d]);
  }
}

}  // namespace strata::cpu
