// The decoder on the GPU (Llama family and Gemma 3, as engine/model/decoder_model.h): bf16
// weights (dequantized from GGUF at load, or random for synthetic models), fp32 residual stream,
// fp16 paged KV cache in device memory (one pool per cache group of the attention plan, as the
// CPU's CpuKvCache), one forward per ragged batch with the same contract as the CPU model.
// Decode steps (one token per sequence) replay CUDA graphs captured per batch-size bucket.
// Attention per layer as its plan says: full (with a trained window as a mask or released
// pages), sink_window, block_topk and evict (kernels/key_eviction.cuh).
#pragma once

#include <memory>
#include <vector>

#include "engine/attention/attention_plan.h"
#include "engine/cuda/model/weight_source.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/model/model_runner.h"

namespace strata::cuda {

class CudaDecoderModel final : public model::ModelRunner {
 public:
  // Loads the weights from `weights` and allocates, for each cache group g of `plan` (empty: the
  // model's own attention, every layer `full`), a KV pool of blocks_per_group[g] blocks of
  // block_size tokens for the group's layers. Throws std::runtime_error when there is no usable
  // GPU or too little memory, attention::LayoutError for a plan the CUDA model cannot run
  // (check_runs_on_cuda), std::invalid_argument for block counts that do not match its groups.
  CudaDecoderModel(const model::ModelConfig& config, WeightSource& weights, std::vector<int32_t> blocks_per_group,
                   int32_t block_size, attention::AttentionPlan plan = {});
  ~CudaDecoderModel() override;
  CudaDecoderModel(const CudaDecoderModel&) = delete;
  CudaDecoderModel& operator=(const CudaDecoderModel&) = delete;

  const model::ModelConfig& config() const override;
  int32_t block_size() const;
  // Decode-step graphs captured so far (tests and logs).
  size_t captured_graphs() const;

  // As DecoderModel::forward, with the KV cache this model owns. Returns once the step is queued
  // on the GPU: the host plans what follows while it runs.
  void step(const model::ForwardBatch& batch) override;
  std::vector<float> logits() override;
  // Picks on the GPU; only the picks (and their logprobs) come back.
  std::vector<sampling::SampledToken> sample(std::span<const sampling::SamplingRow> rows) override;
  // Copies a block of cache group `group` in the group's layers: K/V, and a block_topk layer's
  // key bounds or an evict layer's slot metadata with them.
  void copy_kv_block(int group, int32_t src, int32_t dst) override;
  // What the latest step's compactions emptied (evict layers; attention/eviction.h): planned on
  // the host, run on the GPU after the step, in its stream.
  std::vector<model::CompactedBlocks> compacted_blocks() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Runners of the model in `file` on the GPU, each layer's attention as `plan` says (empty: every
// layer `full`; attention::check_runs_on_cuda accepted it); `file` must outlive them.
model::ModelRunnerFactory cuda_runner_factory(const gguf::GgufFile& file, const attention::AttentionPlan& plan = {});
// Runners of a synthetic model: random weights of `config`'s shape, fixed by `seed`, attention as
// `plan` says (empty: every layer `full`).
model::ModelRunnerFactory synthetic_runner_factory(const model::ModelConfig& config, uint64_t seed,
                                                   const attention::AttentionPlan& plan = {});

}  // namespace strata::cuda
