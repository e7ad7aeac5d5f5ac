// The sparse mixture-of-experts FFN of Qwen3-Next (ModelConfig::MixtureOfExperts): a router
// picks each token's experts, each picked expert runs on the tokens that picked it, and a shared
// expert runs on every token behind a sigmoid gate.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/cpu/matmul.h"
#include "engine/cpu/thread_pool.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"

namespace strata::model {

// A token's experts and their weights, in descending probability (ties: the lower id first).
struct ExpertChoice {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

// The top `n_used` of a token's router logits by softmax probability, renormalized to sum to 1
// when `renormalize` (Qwen3-Next's norm_topk_prob).
ExpertChoice choose_experts(std::span<const float> router_logits, int32_t n_used, bool renormalize);

class MoeFfn {
 public:
  // Loads layer `prefix`'s router, experts and shared expert (llama.cpp's names: ffn_gate_inp,
  // ffn_{gate,up,down}_exps, ffn_gate_inp_shexp, ffn_{gate,up,down}_shexp). Throws
  // gguf::FormatError for a missing or misshapen tensor.
  MoeFfn(const gguf::GgufFile& file, const std::string& prefix, const ModelConfig& config);

  // out[t] = FFN(h[t]) for the n rows of h ([n x n_embd]), out [n x n_embd].
  // One call at a time (the scratch rows are the object's).
  void forward(const float* h, int64_t n, float* out, cpu::MatmulScratch& scratch, cpu::ThreadPool& pool) const;

 private:
  // y = the SwiGLU expert (gate, up, down) of each row of x ([rows x n_embd]).
  void run_expert(const cpu::WeightMatrix& gate, const cpu::WeightMatrix& up, const cpu::WeightMatrix& down, const float* x,
                  int64_t rows, float* y, cpu::MatmulScratch& scratch, cpu::ThreadPool& pool) const;

  MixtureOfExperts shape_;
  int64_t n_embd_;
  cpu::WeightMatrix router_;  // [n_experts x n_embd]
  std::vector<cpu::WeightMatrix> gate_, up_, down_;
  cpu::WeightMatrix shared_gate_, shared_up_, shared_down_;
  std::vector<float> shared_scale_;  // [n_embd]: the shared expert's gate row
  mutable std::vector<float> logits_, rows_in_, gate_out_, up_out_, rows_out_;  // scratch
};

}  // namespace strata::model
