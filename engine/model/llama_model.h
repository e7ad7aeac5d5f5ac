// The Llama-family decoder (SmolLM2, Llama 2/3, Mistral) on the CPU.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "engine/cpu/matmul.h"
#include "engine/cpu/thread_pool.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#include "engine/model/sequence_kv_cache.h"

namespace strata::model {

class LlamaModel {
 public:
  // Weights stay in the mapped file where their type allows; `file` must outlive the model.
  LlamaModel(const gguf::GgufFile& file, int n_threads);

  const ModelConfig& config() const { return config_; }
  int n_threads() const { return pool_.size(); }

  // Runs `tokens` at positions cache.length() onward, appends their K/V to the cache and
  // returns the logits of the last token ([vocab]) or, with all_logits, of every token
  // ([tokens.size() x vocab]). Throws std::invalid_argument for an out-of-vocabulary id or a
  // cache without room.
  std::vector<float> forward(std::span<const int32_t> tokens, SequenceKvCache& cache, bool all_logits = false);

 private:
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    cpu::WeightMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };

  ModelConfig config_;
  cpu::WeightMatrix token_embd_;
  cpu::WeightMatrix output_;  // empty when tied to token_embd_
  std::vector<float> output_norm_;
  std::vector<Layer> layers_;
  cpu::ThreadPool pool_;
  cpu::MatmulScratch scratch_;
};

}  // namespace strata::model
