// What the scheduler drives: one model on one device, owning the KV memory its block ids index.
// The CPU runner (cpu_model_runner.h) and the CUDA model (engine/cuda/model) implement it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/sampling/sample_row.h"

namespace strata::model {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual const ModelConfig& config() const = 0;
  // One step over a ragged batch. Its wanted logits stay with the runner (on its device) until
  // the next step, for logits() and sample().
  virtual void step(const ForwardBatch& batch) = 0;
  // The latest step's wanted logits on the host, sequence by sequence ([rows x vocab]).
  virtual std::vector<float> logits() = 0;
  // One pick per row from the latest step's logits, where they are (a GPU runner samples on the
  // GPU and moves only the picks).
  virtual std::vector<sampling::SampledToken> sample(std::span<const sampling::SamplingRow> rows) = 0;
  // Copies KV block src to dst of cache group `group` in all its layers (copy-on-write of a
  // shared block; kvcache's CopyOp).
  virtual void copy_kv_block(int group, int32_t src, int32_t dst) = 0;
  // The blocks the latest step's compactions emptied (evicting_kv groups; runners without them
  // compact nothing). The caller must release them before the sequence's next step.
  virtual std::vector<CompactedBlocks> compacted_blocks() { return {}; }

  // step() then logits().
  std::vector<float> forward(const ForwardBatch& batch) {
    step(batch);
    return logits();
  }
};

// Makes a runner with KV memory for blocks_per_group[g] blocks of block_size tokens in each cache
// group g of the model's attention plan (slots of a recurrent_state group).
using ModelRunnerFactory =
    std::function<std::unique_ptr<ModelRunner>(std::span<const int32_t> blocks_per_group, int32_t block_size)>;

}  // namespace strata::model
