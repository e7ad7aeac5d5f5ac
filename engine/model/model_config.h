// Hyperparameters of a decoder-only transformer, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

#include "engine/gguf/gguf_file.h"

namespace strata::model {

struct ModelConfig {
  std::string architecture;       // general.architecture, e.g. "llama"
  std::string name;               // general.name (may be empty)
  int32_t n_layers = 0;
  int32_t n_embd = 0;
  int32_t n_ff = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t context_length = 0;
  int32_t vocab_size = 0;
  int32_t rope_dim = 0;           // leading dimensions of each head that RoPE rotates
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_embeddings = false;   // output projection reuses token_embd

  // fp16 K and V of one token in every layer: what the KV cache holds per token.
  int64_t kv_bytes_per_token() const { return int64_t{2} * n_layers * n_kv_heads * head_dim * 2; }

  // Reads and validates the config; throws gguf::FormatError naming the key or the
  // inconsistency, and for architectures the engine does not implement.
  static ModelConfig from_gguf(const gguf::GgufFile& file);
};

}  // namespace strata::model
