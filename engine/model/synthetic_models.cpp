#include "engine/model/synthetic_models.h"

#include <cmath>

namespace strata::model {
namespace {

struct Shape {
  const char* name;
  int32_t n_layers, n_embd, n_ff, n_heads, n_kv_heads, head_dim, context_length, vocab_size;
  float rope_base;
  bool tied;
};

// From the models' published configs (Hugging Face config.json of
// HuggingFaceTB/SmolLM2-135M-Instruct and meta-llama/Llama-3.1-8B). Llama 3.1's RoPE frequency
// scaling for long contexts is not modelled: it changes no shape and no cost.
constexpr Shape kShapes[] = {
    {"smollm2-135m", 30, 576, 1536, 9, 3, 64, 8192, 49152, 100000.0f, true},
    {"llama-3.1-8b", 32, 4096, 14336, 32, 8, 128, 131072, 128256, 500000.0f, false},
};

}  // namespace

std::optional<ModelConfig> synthetic_config(const std::string& name) {
  for (const Shape& s : kShapes) {
    if (name != s.name) continue;
    ModelConfig c;
    c.architecture = "llama";
    c.name = std::string("synthetic ") + s.name;
    c.n_layers = s.n_layers;
    c.n_embd = s.n_embd;
    c.n_ff = s.n_ff;
    c.n_heads = s.n_heads;
    c.n_kv_heads = s.n_kv_heads;
    c.head_dim = s.head_dim;
    c.context_length = s.context_length;
    c.vocab_size = s.vocab_size;
    c.rope_dim = s.head_dim;
    c.attention_scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    c.rms_eps = 1e-5f;
    c.tied_embeddings = s.tied;
    c.layers.assign(static_cast<size_t>(s.n_layers), LayerAttentionSpec{0, s.rope_base, 1.0f});
    return c;
  }
  return std::nullopt;
}

std::vector<std::string> synthetic_model_names() {
  std::vector<std::string> names;
  for (const Shape& s : kShapes) names.emplace_back(s.name);
  return names;
}

}  // namespace strata::model
