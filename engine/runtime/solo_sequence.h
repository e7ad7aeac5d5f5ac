// One sequence run on a runner of its own, blocks in order: generation and benchmarks of a
// single request, and the reference the batched paths are compared with.
#pragma once

#include <numeric>
#include <span>
#include <stdexcept>
#include <vector>

#include "engine/model/model_runner.h"

namespace strata::runtime {

class SoloSequence {
 public:
  static constexpr int32_t kBlockSize = 16;

  // Room for `capacity` tokens in each of the model's n_cache_groups cache groups (its attention
  // plan's), on a runner made by `factory`. Blocks are never reused: window groups keep every
  // page and only their masks apply; the blocks an evicting group compacts away are marked
  // released in its table, as kvcache would.
  SoloSequence(const model::ModelRunnerFactory& factory, int32_t capacity, size_t n_cache_groups = 1)
      : tables_(n_cache_groups, std::vector<int32_t>(static_cast<size_t>((capacity + kBlockSize - 1) / kBlockSize))) {
    for (auto& table : tables_) std::iota(table.begin(), table.end(), 0);
    const std::vector<int32_t> blocks(n_cache_groups, static_cast<int32_t>(tables_.front().size()));
    runner_ = factory(blocks, kBlockSize);
  }

  int32_t length() const { return length_; }
  // The prompt's length, for evicting layers (model::BatchSequence::prompt_tokens); by default
  // the first feed is the prompt.
  void set_prompt_tokens(int32_t tokens) { prompt_tokens_ = tokens; }

  // Appends `tokens` and returns the logits model::LogitsWanted asks for.
  std::vector<float> feed(std::span<const int32_t> tokens, model::LogitsWanted logits = model::LogitsWanted::kLast) {
    if (length_ + static_cast<int64_t>(tokens.size()) > static_cast<int64_t>(tables_.front().size()) * kBlockSize) {
      throw std::invalid_argument("SoloSequence: capacity exceeded");
    }
    if (prompt_tokens_ == 0) prompt_tokens_ = length_ + static_cast<int32_t>(tokens.size());
    std::vector<std::span<const int32_t>> block_tables(tables_.begin(), tables_.end());
    auto out = runner_->forward({model::BatchSequence{tokens, length_, block_tables, logits, prompt_tokens_}});
    length_ += static_cast<int32_t>(tokens.size());
    for (const model::CompactedBlocks& emptied : runner_->compacted_blocks()) {
      for (const int32_t b : emptied.logical_blocks) tables_[static_cast<size_t>(emptied.group)][static_cast<size_t>(b)] = -1;
    }
    return out;
  }

 private:
  std::unique_ptr<model::ModelRunner> runner_;
  std::vector<std::vector<int32_t>> tables_;  // blocks 0, 1, 2, ... in every group
  int32_t length_ = 0;
  int32_t prompt_tokens_ = 0;
};

}  // namespace strata::runtime
