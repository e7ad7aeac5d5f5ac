// The Llama-family decoder (SmolLM2, Llama 2/3, Mistral) on the CPU.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "engine/cpu/matmul.h"
#include "engine/cpu/thread_pool.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/model/paged_kv_store.h"

namespace strata::model {

class LlamaModel {
 public:
  // Weights stay in the mapped file where their type allows; `file` must outlive the model.
  LlamaModel(const gguf::GgufFile& file, int n_threads);

  const ModelConfig& config() const { return config_; }
  int n_threads() const { return pool_.size(); }

  // Runs every sequence's tokens at positions start_pos onward, writes their K/V into the
  // store through the sequence's block table, and returns the wanted logits, sequence by
  // sequence in batch order ([rows x vocab]). Each sequence's results are the same whatever
  // else is in the batch. Throws std::invalid_argument for an out-of-vocabulary id, an empty
  // sequence or a block table too short for its positions.
  std::vector<float> forward(const ForwardBatch& batch, PagedKvStore& kv);

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
