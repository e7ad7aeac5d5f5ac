// What the scheduler drives: one model on one device, owning the KV memory its block ids index.
// The CPU runner (cpu_model_runner.h) and the CUDA model (engine/cuda/model) implement it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"

namespace strata::model {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual const ModelConfig& config() const = 0;
  // One step over a ragged batch; the wanted logits on the host, sequence by sequence.
  virtual std::vector<float> forward(const ForwardBatch& batch) = 0;
  // Copies KV block src to dst in every layer (copy-on-write of a shared block).
  virtual void copy_kv_block(int32_t src, int32_t dst) = 0;
};

// Makes a runner with KV memory for n_blocks blocks of block_size tokens.
using ModelRunnerFactory = std::function<std::unique_ptr<ModelRunner>(int32_t n_blocks, int32_t block_size)>;

}  // namespace strata::model
