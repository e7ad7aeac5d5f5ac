// The decoder on the GPU (Llama family and Gemma 3, as engine/model/decoder_model.h): bf16
// weights (dequantized from GGUF at load, or random for synthetic models), fp32 residual stream,
// fp16 paged KV cache in device memory, one forward per ragged batch with the same contract as
// the CPU model.
// Decode steps (one token per sequence) replay CUDA graphs captured per batch-size bucket.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/attention/attention_plan.h"
#include "engine/cuda/model/weight_source.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/model/model_runner.h"

namespace strata::cuda {

class CudaLlamaModel final : public model::ModelRunner {
 public:
  // Loads the weights from `weights` and allocates KV memory for n_blocks blocks of block_size
  // tokens. page_budgets: per layer, block_topk's budget (engine/attention/page_selection.h), or
  // none for `full`; empty: every layer `full`. Throws std::runtime_error when there is no usable
  // GPU or too little memory, std::invalid_argument for budgets that do not match the layers.
  CudaLlamaModel(const model::ModelConfig& config, WeightSource& weights, int32_t n_blocks, int32_t block_size,
                 std::vector<std::optional<attention::PageBudget>> page_budgets = {});
  ~CudaLlamaModel() override;
  CudaLlamaModel(const CudaLlamaModel&) = delete;
  CudaLlamaModel& operator=(const CudaLlamaModel&) = delete;

  const model::ModelConfig& config() const override;
  int32_t n_blocks() const;
  int32_t block_size() const;
  // Decode-step graphs captured so far (tests and logs).
  size_t captured_graphs() const;

  // As DecoderModel::forward, with the KV cache this model owns. Returns once the step is queued
  // on the GPU: the host plans what follows while it runs.
  void step(const model::ForwardBatch& batch) override;
  std::vector<float> logits() override;
  // Picks on the GPU; only the picks (and their logprobs) come back.
  std::vector<sampling::SampledToken> sample(std::span<const sampling::SamplingRow> rows) override;
  // One cache group: the CUDA model runs only layouts whose layers are all paged (`full`,
  // `block_topk`); a block_topk layer's key bounds move with the block.
  void copy_kv_block(int group, int32_t src, int32_t dst) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Each layer's block_topk budget under `plan` (none for `full`): what CudaLlamaModel takes.
std::vector<std::optional<attention::PageBudget>> layer_page_budgets(const attention::AttentionPlan& plan);

// Runners of the model in `file` on the GPU, each layer's attention as `plan` says (empty: every
// layer `full`; attention::check_runs_on_cuda accepted it); `file` must outlive them.
model::ModelRunnerFactory cuda_runner_factory(const gguf::GgufFile& file, const attention::AttentionPlan& plan = {});
// Runners of a synthetic model: random weights of `config`'s shape, fixed by `seed`.
model::ModelRunnerFactory synthetic_runner_factory(const model::ModelConfig& config, uint64_t seed);

}  // namespace strata::cuda
