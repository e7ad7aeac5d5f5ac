#include "engine/model/model_config.h"

#include <cmath>

namespace strata::model {
namespace {

int32_t positive_int(const gguf::GgufFile& f, const std::string& key, int64_t limit) {
  int64_t v = f.get_int(key);
  if (v <= 0 || v > limit) {
    throw gguf::FormatError("'" + f.path() + "': " + key + " = " + std::to_string(v) + " is out of range (1.." +
                            std::to_string(limit) + ")");
  }
  return static_cast<int32_t>(v);
}

// Which layers use the sliding window, as llama.cpp decides it for Gemma 3: the key
// `attention.sliding_window_pattern` when present (a period n: every n-th layer is global, the
// others slide; or one flag per layer, nonzero = sliding), else the architecture's period of 6
// (five sliding layers, then one global).
std::vector<bool> gemma3_sliding_layers(const gguf::GgufFile& f, const std::string& prefix, int32_t n_layers) {
  const std::string key = prefix + "attention.sliding_window_pattern";
  std::vector<bool> sliding(static_cast<size_t>(n_layers));
  const gguf::Value* pattern = f.find(key);
  if (pattern != nullptr && pattern->type == gguf::ValueType::kArray) {
    const auto& flags = pattern->as_array(key);
    if (flags.size() != sliding.size()) {
      throw gguf::FormatError("'" + f.path() + "': " + key + " has " + std::to_string(flags.size()) +
                              " entries for " + std::to_string(n_layers) + " layers");
    }
    for (size_t i = 0; i < flags.size(); ++i) {
      sliding[i] = flags[i].type == gguf::ValueType::kBool ? flags[i].as_bool(key) : flags[i].as_int(key) != 0;
    }
    return sliding;
  }
  const int64_t period = pattern != nullptr ? pattern->as_int(key) : 6;
  if (period < 0) throw gguf::FormatError("'" + f.path() + "': " + key + " is negative");
  for (int32_t i = 0; i < n_layers; ++i) sliding[static_cast<size_t>(i)] = period == 0 || i % period < period - 1;
  return sliding;
}

// Qwen3-Next's gated delta-rule layers, with llama.cpp's keys: every layer but each
// full_attention_interval-th one (default 4) is linear.
void read_gated_delta_net(const gguf::GgufFile& f, const std::string& p, ModelConfig& c) {
  auto& s = c.gated_delta_net;
  s.conv_kernel = positive_int(f, p + "ssm.conv_kernel", 64);
  s.d_k = positive_int(f, p + "ssm.state_size", 1024);
  s.n_k_heads = positive_int(f, p + "ssm.group_count", 1024);
  s.n_v_heads = positive_int(f, p + "ssm.time_step_rank", 1024);
  const int32_t inner = positive_int(f, p + "ssm.inner_size", 1 << 20);
  if (inner % s.n_v_heads != 0 || s.n_v_heads % s.n_k_heads != 0) {
    throw gguf::FormatError("'" + f.path() + "': " + p + "ssm.inner_size (" + std::to_string(inner) +
                            ") must split into ssm.time_step_rank heads, a multiple of ssm.group_count");
  }
  s.d_v = inner / s.n_v_heads;
  const int64_t interval = f.has(p + "full_attention_interval") ? positive_int(f, p + "full_attention_interval", 1024) : 4;
  for (size_t i = 0; i < c.layers.size(); ++i) c.layers[i].linear = (i + 1) % static_cast<size_t>(interval) != 0;
}

// Qwen3-Next's experts, with llama.cpp's keys (expert_weights_norm absent: renormalized, as
// Qwen3-Next's norm_topk_prob).
void read_mixture_of_experts(const gguf::GgufFile& f, const std::string& p, ModelConfig& c) {
  auto& m = c.moe;
  if (!f.has(p + "expert_count") || f.get_int(p + "expert_count") == 0) return;
  m.n_experts = positive_int(f, p + "expert_count", 1 << 16);
  m.n_used = positive_int(f, p + "expert_used_count", m.n_experts);
  m.n_ff_expert = positive_int(f, p + "expert_feed_forward_length", 1 << 18);
  m.n_ff_shared = positive_int(f, p + "expert_shared_feed_forward_length", 1 << 18);
  const std::string norm = p + "expert_weights_norm";
  m.renormalize = f.has(norm) ? f.find(norm)->as_bool(norm) : true;
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const gguf::GgufFile& f) {
  ModelConfig c;
  c.architecture = f.get_string("general.architecture");
  const bool gemma3 = c.architecture == "gemma3";
  const bool qwen3next = c.architecture == "qwen3next";
  if (c.architecture != "llama" && !gemma3 && !qwen3next) {
    throw gguf::FormatError("'" + f.path() + "': unknown architecture '" + c.architecture +
                            "' (supported: llama, gemma3, qwen3next)");
  }
  c.name = f.get_string("general.name", "");
  const std::string p = c.architecture + ".";
  c.n_layers = positive_int(f, p + "block_count", 1024);
  c.n_embd = positive_int(f, p + "embedding_length", 1 << 16);
  c.n_ff = positive_int(f, p + "feed_forward_length", 1 << 18);
  c.n_heads = positive_int(f, p + "attention.head_count", 1024);
  c.n_kv_heads = f.has(p + "attention.head_count_kv") ? positive_int(f, p + "attention.head_count_kv", 1024) : c.n_heads;
  c.context_length = positive_int(f, p + "context_length", 1 << 24);
  c.head_dim = f.has(p + "attention.key_length") ? positive_int(f, p + "attention.key_length", 1024)
                                                 : c.n_embd / c.n_heads;
  c.rope_dim = f.has(p + "rope.dimension_count") ? positive_int(f, p + "rope.dimension_count", 1024) : c.head_dim;
  c.rms_eps = static_cast<float>(f.get_double(p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  const auto rope_base = static_cast<float>(f.get_double(p + "rope.freq_base", 10000.0));
  // llama.cpp reads the factor whatever rope.scaling.type says (older files: rope.scale_linear).
  const auto rope_factor = static_cast<float>(
      f.get_double(p + "rope.scaling.factor", f.get_double(p + "rope.scale_linear", 0.0)));
  const float rope_freq_scale = rope_factor == 0.0f ? 1.0f : 1.0f / rope_factor;
  c.layers.assign(static_cast<size_t>(c.n_layers), LayerAttentionSpec{0, rope_base, rope_freq_scale});

  if (gemma3) {
    c.features = {.qk_norm = true,
                  .post_norms = true,
                  .scale_queries = true,
                  .rope_pairing = RopePairing::kHalves,
                  .ffn_activation = FfnActivation::kGeluTanh,
                  .attention_output_gate = false};
    c.embedding_scale = std::sqrt(static_cast<float>(c.n_embd));
    // llama.cpp's rule (Gemma's query_pre_attn_scalar): n_embd / n_heads for the 27B (62 layers),
    // the head dimension otherwise.
    if (c.n_layers == 62) c.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.n_embd / c.n_heads));
    const int32_t window = positive_int(f, p + "attention.sliding_window", 1 << 24);
    const auto local_base = static_cast<float>(f.get_double(p + "rope.freq_base_swa", 10000.0));
    const auto sliding = gemma3_sliding_layers(f, p, c.n_layers);
    for (size_t i = 0; i < c.layers.size(); ++i) {
      if (sliding[i]) c.layers[i] = LayerAttentionSpec{window, local_base, 1.0f};  // local layers are never scaled
    }
  }

  if (qwen3next) {
    c.features.qk_norm = true;
    c.features.rope_pairing = RopePairing::kHalves;
    c.features.attention_output_gate = true;
    read_gated_delta_net(f, p, c);
    read_mixture_of_experts(f, p, c);
  }

  const auto& embd = f.tensor("token_embd.weight");
  if (embd.dims.size() != 2 || embd.dims[0] != static_cast<uint64_t>(c.n_embd)) {
    throw gguf::FormatError("'" + f.path() + "': token_embd.weight does not have " + std::to_string(c.n_embd) +
                            " columns");
  }
  c.vocab_size = static_cast<int32_t>(embd.dims[1]);
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;

  auto fail = [&](const std::string& why) { throw gguf::FormatError("'" + f.path() + "': " + why); };
  if (c.n_heads % c.n_kv_heads != 0) fail("head_count is not a multiple of head_count_kv");
  if (c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) fail("rope.dimension_count must be even and <= head dim");
  if (c.head_dim % 2 != 0 || c.head_dim > 512) fail("head dimension must be even and at most 512");
  for (const auto& layer : c.layers) {
    if (!(layer.rope_base > 0.0f)) fail("rope.freq_base must be positive");
    if (!(layer.rope_freq_scale > 0.0f)) fail("rope.scaling.factor must be positive");
  }
  if (!(c.rms_eps > 0.0f)) fail("attention.layer_norm_rms_epsilon must be positive");
  return c;
}

}  // namespace strata::model
