// The CPU model with its paged KV store, as a ModelRunner.
#pragma once

#include "engine/model/decoder_model.h"
#include "engine/model/model_runner.h"
#include "engine/model/cpu_kv_cache.h"

namespace strata::model {

class CpuModelRunner final : public ModelRunner {
 public:
  CpuModelRunner(DecoderModel& model, std::span<const int32_t> blocks_per_group, int32_t block_size)
      : model_(model), kv_(model.config(), model.attention_plan(), blocks_per_group, block_size) {}

  const ModelConfig& config() const override { return model_.config(); }
  void step(const ForwardBatch& batch) override { logits_ = model_.forward(batch, kv_); }
  std::vector<float> logits() override { return logits_; }
  std::vector<sampling::SampledToken> sample(std::span<const sampling::SamplingRow> rows) override {
    return sampling::sample_rows(logits_, static_cast<size_t>(model_.config().vocab_size), rows);
  }
  void copy_kv_block(int group, int32_t src, int32_t dst) override { kv_.copy_block(group, src, dst); }
  std::vector<CompactedBlocks> compacted_blocks() override { return kv_.compacted(); }

 private:
  DecoderModel& model_;
  CpuKvCache kv_;
  std::vector<float> logits_;  // the latest step's
};

// Runners of `model` on the CPU; `model` must outlive them.
inline ModelRunnerFactory cpu_runner_factory(DecoderModel& model) {
  return [&model](std::span<const int32_t> blocks_per_group, int32_t block_size) {
    return std::make_unique<CpuModelRunner>(model, blocks_per_group, block_size);
  };
}

}  // namespace strata::model
