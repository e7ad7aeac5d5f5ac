// The CPU forward of decoder-only transformers: the Llama family (SmolLM2, Llama 2/3, Mistral),
// Gemma 3 and Qwen3-Next's hybrid of gated delta-rule and full attention layers (with dense or
// mixture-of-experts FFNs), one block whose variations are ModelConfig's features and per-layer
// specs.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/attention/attention_layout.h"
#include "engine/attention/attention_plan.h"
#include "engine/cpu/matmul.h"
#include "engine/cpu/thread_pool.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/cpu_kv_cache.h"
#include "engine/model/forward_batch.h"
#include "engine/model/gated_delta_net_layer.h"
#include "engine/model/model_config.h"
#include "engine/model/moe_ffn.h"

namespace strata::model {

class DecoderModel {
 public:
  // Weights stay in the mapped file where their type allows; `file` must outlive the model.
  // `layout` chooses each layer's attention backend (none: every layer `full`); throws
  // attention::LayoutError when it does not fit the model.
  DecoderModel(const gguf::GgufFile& file, int n_threads, const attention::AttentionLayout& layout = {});

  const ModelConfig& config() const { return config_; }
  const attention::AttentionPlan& attention_plan() const { return plan_; }
  int n_threads() const { return pool_.size(); }

  // Runs every sequence's tokens at positions start_pos onward, writes their K/V into the
  // cache through the sequence's block tables (one per cache group of the attention plan) and
  // the state of linear layers into its state slot, and returns the wanted logits, sequence by
  // sequence in batch order ([rows x vocab]). Each layer reads the keys its plan names. Each
  // sequence's results are the same whatever else is in the batch. Throws
  // std::invalid_argument for an out-of-vocabulary id, an empty sequence, block tables that lack
  // a block the step writes or reads, or state slots missing, shared or out of range. Evicting
  // groups compact where the step takes them over budget; kv.compacted() then names the blocks
  // to release before the sequence's next step.
  std::vector<float> forward(const ForwardBatch& batch, CpuKvCache& kv);

 private:
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    std::vector<float> q_norm, k_norm;                 // features.qk_norm only
    std::vector<float> post_attn_norm, post_ffn_norm;  // features.post_norms only
    cpu::WeightMatrix wq, wk, wv, wo;                  // softmax attention layers
    std::optional<GatedDeltaNetLayer> linear;          // layers trained as linear attention
    cpu::WeightMatrix w_gate, w_up, w_down;           // the dense FFN
    std::optional<MoeFfn> moe;                         // instead, where the file has a router
  };

  // Compacts each evicting group of the batch's sequences that the step took over budget.
  void compact_evicting_groups(const ForwardBatch& batch, CpuKvCache& kv) const;
  // The FFN block: x += ffn(norm(x)), through the scratch rows h, gate, up and out.
  void add_ffn(const Layer& l, std::vector<float>& x, std::vector<float>& h, std::vector<float>& gate,
               std::vector<float>& up, std::vector<float>& out);
  // residual += out, out first RMS-normalized with post_norm when the architecture has one.
  void add_block_output(std::vector<float>& out, const std::vector<float>& post_norm,
                        std::vector<float>& residual) const;

  ModelConfig config_;
  attention::AttentionPlan plan_;
  cpu::WeightMatrix token_embd_;
  cpu::WeightMatrix output_;  // empty when tied to token_embd_
  std::vector<float> output_norm_;
  std::vector<Layer> layers_;
  cpu::ThreadPool pool_;
  cpu::MatmulScratch scratch_;
};

}  // namespace strata::model
