// The Llama-family decoder on the GPU: bf16 weights (dequantized from GGUF at load), fp32
// residual stream, fp16 paged KV cache in device memory, one forward per ragged batch with the
// same contract as the CPU model (engine/model/decoder_model.h).
#pragma once

#include <memory>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/model/model_runner.h"

namespace strata::cuda {

class CudaLlamaModel final : public model::ModelRunner {
 public:
  // Uploads the weights and allocates KV memory for n_blocks blocks of block_size tokens.
  // Throws std::runtime_error when there is no usable GPU or too little memory.
  CudaLlamaModel(const gguf::GgufFile& file, int32_t n_blocks, int32_t block_size);
  ~CudaLlamaModel() override;
  CudaLlamaModel(const CudaLlamaModel&) = delete;
  CudaLlamaModel& operator=(const CudaLlamaModel&) = delete;

  const model::ModelConfig& config() const override;
  int32_t n_blocks() const;
  int32_t block_size() const;

  // As DecoderModel::forward, with the KV cache this model owns; returns the wanted logits on
  // the host.
  std::vector<float> forward(const model::ForwardBatch& batch) override;
  void copy_kv_block(int32_t src, int32_t dst) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Runners of the model in `file` on the GPU; `file` must outlive them.
inline model::ModelRunnerFactory cuda_runner_factory(const gguf::GgufFile& file) {
  return [&file](int32_t n_blocks, int32_t block_size) { return std::make_unique<CudaLlamaModel>(file, n_blocks, block_size); };
}

}  // namespace strata::cuda
