#include "engine/model/model_config.h"

#include <array>
#include <string_view>

namespace strata::model {
namespace {

constexpr std::array<std::string_view, 1> kSupportedArchitectures = {"llama"};

int32_t positive_int(const gguf::GgufFile& f, const std::string& key, int64_t limit) {
  int64_t v = f.get_int(key);
  if (v <= 0 || v > limit) {
    throw gguf::FormatError("'" + f.path() + "': " + key + " = " + std::to_string(v) + " is out of range (1.." +
                            std::to_string(limit) + ")");
  }
  return static_cast<int32_t>(v);
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const gguf::GgufFile& f) {
  ModelConfig c;
  c.architecture = f.get_string("general.architecture");
  bool supported = false;
  for (auto arch : kSupportedArchitectures) supported |= arch == c.architecture;
  if (!supported) {
    throw gguf::FormatError("'" + f.path() + "': unknown architecture '" + c.architecture + "' (supported: llama)");
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
  c.rope_base = static_cast<float>(f.get_double(p + "rope.freq_base", 10000.0));
  c.rms_eps = static_cast<float>(f.get_double(p + "attention.layer_norm_rms_epsilon", 1e-5));

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
  if (c.rope_base <= 0.0f) fail("rope.freq_base must be positive");
  if (!(c.rms_eps > 0.0f)) fail("attention.layer_norm_rms_epsilon must be positive");
  return c;
}

}  // namespace strata::model
