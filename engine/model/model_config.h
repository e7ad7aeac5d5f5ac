// Hyperparameters of a decoder-only transformer, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/attention/linear/gated_delta_net.h"
#include "engine/gguf/gguf_file.h"

namespace strata::model {

// How one layer's attention sees the sequence: the part of the per-layer attention spec
// (DESIGN.md §2) that comes from the model itself. The window lives here so that a cache which
// keeps only the window's pages can later take it from the same place.
struct LayerAttentionSpec {
  // Keys a query attends to, itself included: the positions (p - window, p]. 0 = every earlier
  // position (a global layer).
  int32_t sliding_window = 0;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // linear RoPE scaling: 1 / rope.scaling.factor on the layers it applies to
  // A gated delta-rule layer (Qwen3-Next's linear_attention): its weights have no softmax
  // attention, so only the `linear` backend may run it.
  bool linear = false;
};

// Which pairs of a head's dimensions RoPE rotates together.
enum class RopePairing : uint8_t {
  kAdjacent,  // (2i, 2i + 1): Llama (ggml's "normal" RoPE)
  kHalves,    // (i, i + rope_dim / 2): GPT-NeoX, Gemma
};

// The activation of the gate of the gated feed-forward block.
enum class FfnActivation : uint8_t {
  kSilu,      // SwiGLU (Llama)
  kGeluTanh,  // GeGLU with GELU's tanh approximation (Gemma)
};

// Where an architecture's block departs from the Llama block; the defaults are Llama's.
struct ArchitectureFeatures {
  bool qk_norm = false;        // RMSNorm over each head of q and k before RoPE (attn_q_norm, attn_k_norm)
  bool post_norms = false;     // RMSNorm of the attention and FFN outputs before their residual adds
                               // (post_attention_norm, post_ffw_norm)
  bool scale_queries = false;  // the attention scale multiplies q itself rather than the scores (Gemma, as
                               // llama.cpp does it: q is then rounded to fp16 already scaled)
  RopePairing rope_pairing = RopePairing::kAdjacent;
  FfnActivation ffn_activation = FfnActivation::kSilu;
  bool attention_output_gate = false;  // attn_q also gives, per head, a gate g: out = attention * sigmoid(g)
                                       // (Qwen3-Next; each head's rows are its query, then its gate)
};

// A sparse mixture-of-experts FFN (Qwen3-Next's): a token's FFN output is the sum of its top
// n_used SwiGLU experts by router softmax, each weighted by its probability, plus a shared SwiGLU
// expert scaled by sigmoid(shared gate . x). Layers whose file has a router (ffn_gate_inp) run
// it; the others run the dense FFN of n_ff.
struct MixtureOfExperts {
  int32_t n_experts = 0;     // 0: no layer has experts
  int32_t n_used = 0;        // experts a token runs
  int32_t n_ff_expert = 0;   // each expert's hidden width
  int32_t n_ff_shared = 0;   // the shared expert's hidden width
  bool renormalize = true;   // the chosen probabilities are scaled to sum to 1 (norm_topk_prob)
};

struct ModelConfig {
  std::string architecture;       // general.architecture: "llama", "gemma3" or "qwen3next"
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
  float rms_eps = 1e-5f;
  float attention_scale = 0.0f;   // softmax scale of q·k (1/sqrt(head_dim) unless the architecture says otherwise)
  float embedding_scale = 1.0f;   // token embeddings are multiplied by this (Gemma: sqrt(n_embd))
  bool tied_embeddings = false;   // output projection reuses token_embd
  ArchitectureFeatures features;
  std::vector<LayerAttentionSpec> layers;  // one per layer
  attention::linear::GatedDeltaNetShape gated_delta_net;  // the linear layers' shape (qwen3next)
  MixtureOfExperts moe;                                   // the expert layers' shape (qwen3next)

  // Reads and validates the config; throws gguf::FormatError naming the key or the
  // inconsistency, and for architectures the engine does not implement.
  static ModelConfig from_gguf(const gguf::GgufFile& file);
};

}  // namespace strata::model
