#include "engine/model/decoder_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/common/half.h"
#include "engine/attention/eviction.h"
#include "engine/cpu/ops.h"
#include "engine/model/cached_reads.h"
#include "engine/model/evicting_layers.h"
#include "engine/model/gguf_weights.h"
#include "engine/model/step_page_selection.h"

namespace strata::model {
namespace {

// The norm before the FFN: llama.cpp names Qwen3-Next's (transformers' post_attention_layernorm)
// post_attention_norm, which in Gemma 3 is the norm of the attention output.
std::string ffn_norm_tensor(const ModelConfig& c) {
  return c.architecture == "qwen3next" ? "post_attention_norm.weight" : "ffn_norm.weight";
}

// The step's rows as the linear layers see them: each sequence with its state slot.
attention::linear::LinearBatchPlan plan_linear_rows(const ForwardBatch& batch, int32_t n_slots) {
  std::vector<attention::linear::LinearSequence> sequences;
  for (const BatchSequence& s : batch) {
    sequences.push_back({s.state_slot, s.start_pos, static_cast<int32_t>(s.tokens.size())});
  }
  return attention::linear::plan_linear_batch(sequences, n_slots);
}

}  // namespace

DecoderModel::DecoderModel(const gguf::GgufFile& file, int n_threads, const attention::AttentionLayout& layout)
    : config_(ModelConfig::from_gguf(file)), plan_(attention::resolve_attention(layout, config_)), pool_(n_threads) {
  const auto& c = config_;
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  token_embd_ = load_matrix(file, "token_embd.weight", c.vocab_size, c.n_embd);
  if (!c.tied_embeddings) output_ = load_matrix(file, "output.weight", c.vocab_size, c.n_embd);
  output_norm_ = load_vector(file, "output_norm.weight", c.n_embd);
  layers_.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    Layer& l = layers_[static_cast<size_t>(i)];
    l.attn_norm = load_vector(file, p + "attn_norm.weight", c.n_embd);
    l.ffn_norm = load_vector(file, p + ffn_norm_tensor(c), c.n_embd);
    if (c.layers[static_cast<size_t>(i)].linear) {
      l.linear.emplace(file, p, c);
    } else {
      if (c.features.qk_norm) {
        l.q_norm = load_vector(file, p + "attn_q_norm.weight", c.head_dim);
        l.k_norm = load_vector(file, p + "attn_k_norm.weight", c.head_dim);
      }
      l.wq = load_matrix(file, p + "attn_q.weight", c.features.attention_output_gate ? 2 * q_dim : q_dim, c.n_embd);
      l.wk = load_matrix(file, p + "attn_k.weight", kv_dim, c.n_embd);
      l.wv = load_matrix(file, p + "attn_v.weight", kv_dim, c.n_embd);
      l.wo = load_matrix(file, p + "attn_output.weight", c.n_embd, q_dim);
    }
    if (c.features.post_norms) {
      l.post_attn_norm = load_vector(file, p + "post_attention_norm.weight", c.n_embd);
      l.post_ffn_norm = load_vector(file, p + "post_ffw_norm.weight", c.n_embd);
    }
    if (c.moe.n_experts > 0 && file.find_tensor(p + "ffn_gate_inp.weight") != nullptr) {
      l.moe.emplace(file, p, c);
    } else {
      l.w_gate = load_matrix(file, p + "ffn_gate.weight", c.n_ff, c.n_embd);
      l.w_up = load_matrix(file, p + "ffn_up.weight", c.n_ff, c.n_embd);
      l.w_down = load_matrix(file, p + "ffn_down.weight", c.n_embd, c.n_ff);
    }
  }
}

std::vector<float> DecoderModel::forward(const ForwardBatch& batch, CpuKvCache& kv) {
  const auto& c = config_;
  const auto& features = c.features;
  const FlatBatch flat = flatten(batch, c.context_length, c.vocab_size, kv.block_size(), plan_.group_kinds());
  check_reads_are_cached(batch, plan_, kv.block_size());
  const auto first_linear = std::ranges::find_if(layers_, [](const Layer& l) { return l.linear.has_value(); });
  const auto linear_rows =
      first_linear == layers_.end()
          ? attention::linear::LinearBatchPlan{}
          : plan_linear_rows(batch, kv.state_slots(static_cast<int>(first_linear - layers_.begin())).n_slots);
  const int64_t n = static_cast<int64_t>(flat.tokens.size());
  const int64_t d = c.n_embd;
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  const float score_scale = features.scale_queries ? 1.0f : c.attention_scale;
  const auto rope = features.rope_pairing == RopePairing::kHalves ? cpu::rope_split_halves : cpu::rope_adjacent_pairs;
  // RMSNorm of each of `heads` heads of every token's row of `x`, in place.
  auto norm_heads = [&](float* x, int heads, const std::vector<float>& weight) {
    for (int64_t row = 0; row < n * heads; ++row) {
      float* head = x + row * c.head_dim;
      cpu::rms_norm(head, weight.data(), head, c.head_dim, c.rms_eps);
    }
  };

  std::vector<float> x(static_cast<size_t>(n * d)), h(x.size()), proj(x.size());
  std::vector<float> q(static_cast<size_t>(n * q_dim)), attn(q.size());
  std::vector<float> q_and_gate, attn_gate;  // features.attention_output_gate
  if (features.attention_output_gate) {
    q_and_gate.resize(2 * q.size());
    attn_gate.resize(q.size());
  }
  std::vector<float> k(static_cast<size_t>(n * kv_dim)), v(k.size());
  std::vector<float> gate(static_cast<size_t>(n * c.n_ff)), up(gate.size());

  // block_topk: each scoring layer's choice of pages, kept until the last layer reusing it has run.
  std::vector<std::optional<StepPageSelection>> selections(static_cast<size_t>(c.n_layers));
  const auto reused_after = [&](int source, int layer) {
    return std::ranges::any_of(plan_.layers.begin() + layer + 1, plan_.layers.end(),
                               [&](const attention::LayerAttention& a) { return a.plan.reuse_selection_of == source; });
  };

  for (int64_t t = 0; t < n; ++t) token_embd_.dequantize_row(flat.tokens[static_cast<size_t>(t)], x.data() + t * d);
  if (c.embedding_scale != 1.0f) {
    for (float& e : x) e *= c.embedding_scale;
  }

  for (int li = 0; li < c.n_layers; ++li) {
    const Layer& l = layers_[static_cast<size_t>(li)];
    const LayerAttentionSpec& spec = c.layers[static_cast<size_t>(li)];
    for (int64_t t = 0; t < n; ++t) cpu::rms_norm(x.data() + t * d, l.attn_norm.data(), h.data() + t * d, d, c.rms_eps);
    if (l.linear) {
      l.linear->forward(h.data(), linear_rows, kv.state_slots(li), proj.data(), scratch_, pool_);
      add_block_output(proj, l.post_attn_norm, x);
      add_ffn(l, x, h, gate, up, proj);
      continue;
    }
    const attention::LayerPlan& attention = plan_.layers[static_cast<size_t>(li)].plan;
    const size_t group = static_cast<size_t>(plan_.layers[static_cast<size_t>(li)].cache_group);
    PagedKvStore& store = kv.store_of(li);
    const int layer_in_group = kv.index_in_group(li);
    const auto table_of = [&](int64_t t) {
      return batch[static_cast<size_t>(flat.sequence[static_cast<size_t>(t)])].block_tables[group].data();
    };
    if (features.attention_output_gate) {
      // Each head's rows of attn_q: its query, then its output gate.
      cpu::matmul(l.wq, h.data(), n, q_and_gate.data(), scratch_, pool_);
      for (int64_t head = 0; head < n * c.n_heads; ++head) {
        const float* src = q_and_gate.data() + head * 2 * c.head_dim;
        std::copy_n(src, c.head_dim, q.data() + head * c.head_dim);
        std::copy_n(src + c.head_dim, c.head_dim, attn_gate.data() + head * c.head_dim);
      }
    } else {
      cpu::matmul(l.wq, h.data(), n, q.data(), scratch_, pool_);
    }
    cpu::matmul(l.wk, h.data(), n, k.data(), scratch_, pool_);
    cpu::matmul(l.wv, h.data(), n, v.data(), scratch_, pool_);
    if (features.qk_norm) {
      norm_heads(q.data(), c.n_heads, l.q_norm);
      norm_heads(k.data(), c.n_kv_heads, l.k_norm);
    }
    for (int64_t t = 0; t < n; ++t) {
      const int32_t pos = flat.positions[static_cast<size_t>(t)];
      float* qt = q.data() + t * q_dim;
      rope(qt, c.n_heads, c.head_dim, c.rope_dim, pos, spec.rope_base, spec.rope_freq_scale);
      rope(k.data() + t * kv_dim, c.n_kv_heads, c.head_dim, c.rope_dim, pos, spec.rope_base, spec.rope_freq_scale);
      if (features.scale_queries) {
        for (int64_t j = 0; j < q_dim; ++j) qt[j] *= c.attention_scale;
      }
      uint16_t* kc = store.k_at(layer_in_group, table_of(t), pos);
      uint16_t* vc = store.v_at(layer_in_group, table_of(t), pos);
      for (int64_t j = 0; j < kv_dim; ++j) {
        kc[j] = f32_to_fp16(k[static_cast<size_t>(t * kv_dim + j)]);
        vc[j] = f32_to_fp16(v[static_cast<size_t>(t * kv_dim + j)]);
      }
      if (attention.eviction) write_slot_metadata(store, layer_in_group, table_of(t), pos, c.n_kv_heads);
    }
    if (attention.scores_pages()) {
      // Bounds of the blocks this step filled, before any query of the step scores them.
      const int32_t block_size = kv.block_size();
      for (int64_t t = 0; t < n; ++t) {
        const int32_t pos = flat.positions[static_cast<size_t>(t)];
        if ((pos + 1) % block_size == 0) store.update_key_bounds(layer_in_group, table_of(t)[pos / block_size]);
      }
      const StepQueries queries{q.data(), flat.positions, c.n_heads, c.n_kv_heads, c.head_dim};
      selections[static_cast<size_t>(li)].emplace(*attention.page_budget, queries, store.key_bounds(layer_in_group),
                                                  table_of, block_size, pool_);
    }
    const int source = attention.scores_pages() ? li : attention.reuse_selection_of;  // block_topk layers
    const StepPageSelection* chosen = attention.page_budget ? &*selections[static_cast<size_t>(source)] : nullptr;
    if (attention.eviction) {
      evicting_attention(batch, flat, group, plan_.groups[group].budget_blocks(kv.block_size()), *attention.eviction,
                         store, layer_in_group, c, score_scale, q.data(), attn.data(), pool_);
    } else {
      pool_.parallel_for(n * c.n_heads, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> scores(static_cast<size_t>(flat.longest));
        std::vector<attention::KeyRange> page_ranges(chosen ? static_cast<size_t>(chosen->most_pages()) : 0);
        for (int64_t item = begin; item < end; ++item) {
          const int64_t t = item / c.n_heads;
          const int head = static_cast<int>(item % c.n_heads);
          const int32_t pos = flat.positions[static_cast<size_t>(t)];
          const int32_t* table = table_of(t);
          const std::array<attention::KeyRange, 2> mask = attention.keys(pos, head).ranges();
          std::span<const attention::KeyRange> keys = mask;
          if (chosen != nullptr) {
            const auto pages = chosen->pages(t, head / (c.n_heads / c.n_kv_heads));
            keys = std::span(page_ranges.data(),
                             page_key_ranges(pages, kv.block_size(), int64_t{pos} + 1, page_ranges.data()));
          }
          cpu::attention_one_query(q.data() + t * q_dim, store.k_view(layer_in_group, table),
                                   store.v_view(layer_in_group, table), keys, head, c.n_heads, c.n_kv_heads, c.head_dim,
                                   score_scale, scores.data(), attn.data() + t * q_dim);
        }
      }, cpu::kUnevenChunksPerThread);
    }
    if (features.attention_output_gate) {
      for (size_t i = 0; i < attn.size(); ++i) attn[i] *= 1.0f / (1.0f + std::exp(-attn_gate[i]));
    }
    if (chosen != nullptr && !reused_after(source, li)) selections[static_cast<size_t>(source)].reset();
    cpu::matmul(l.wo, attn.data(), n, proj.data(), scratch_, pool_);
    add_block_output(proj, l.post_attn_norm, x);
    add_ffn(l, x, h, gate, up, proj);
  }

  compact_evicting_groups(batch, kv);

  const int64_t n_out = static_cast<int64_t>(flat.output_rows.size());
  if (n_out == 0) return {};
  for (int64_t i = 0; i < n_out; ++i) {
    cpu::rms_norm(x.data() + flat.output_rows[static_cast<size_t>(i)] * d, output_norm_.data(), h.data() + i * d, d, c.rms_eps);
  }
  std::vector<float> logits(static_cast<size_t>(n_out * c.vocab_size));
  cpu::matmul(c.tied_embeddings ? token_embd_ : output_, h.data(), n_out, logits.data(), scratch_, pool_);
  return logits;
}

void DecoderModel::compact_evicting_groups(const ForwardBatch& batch, CpuKvCache& kv) const {
  kv.compacted().clear();
  for (size_t g = 0; g < plan_.groups.size(); ++g) {
    const auto& group = plan_.groups[g];
    if (group.kind != kvcache::CacheKind::kEvictingKv) continue;
    std::vector<const attention::EvictionPlan*> layer_plans;
    for (const int32_t layer : group.layers) layer_plans.push_back(&*plan_.layers[static_cast<size_t>(layer)].plan.eviction);
    compact_evicting_group(batch, g, group.budget_blocks(kv.block_size()), layer_plans, kv.store_of(group.layers.front()),
                           config_, kv.compacted());
  }
}

void DecoderModel::add_ffn(const Layer& l, std::vector<float>& x, std::vector<float>& h, std::vector<float>& gate,
                           std::vector<float>& up, std::vector<float>& out) {
  const auto& c = config_;
  const int64_t d = c.n_embd;
  const int64_t n = static_cast<int64_t>(x.size()) / d;
  const auto activation = c.features.ffn_activation == FfnActivation::kGeluTanh ? cpu::geglu_tanh : cpu::swiglu;
  for (int64_t t = 0; t < n; ++t) cpu::rms_norm(x.data() + t * d, l.ffn_norm.data(), h.data() + t * d, d, c.rms_eps);
  if (l.moe) {
    l.moe->forward(h.data(), n, out.data(), scratch_, pool_);
    return add_block_output(out, l.post_ffn_norm, x);
  }
  cpu::matmul(l.w_gate, h.data(), n, gate.data(), scratch_, pool_);
  cpu::matmul(l.w_up, h.data(), n, up.data(), scratch_, pool_);
  activation(gate.data(), up.data(), gate.data(), n * c.n_ff);
  cpu::matmul(l.w_down, gate.data(), n, out.data(), scratch_, pool_);
  add_block_output(out, l.post_ffn_norm, x);
}

void DecoderModel::add_block_output(std::vector<float>& out, const std::vector<float>& post_norm,
                                    std::vector<float>& residual) const {
  const int64_t d = config_.n_embd;
  if (!post_norm.empty()) {
    for (size_t row = 0; row < out.size(); row += static_cast<size_t>(d)) {
      cpu::rms_norm(out.data() + row, post_norm.data(), out.data() + row, d, config_.rms_eps);
    }
  }
  for (size_t i = 0; i < residual.size(); ++i) residual[i] += out[i];
}

}  // namespace strata::model
