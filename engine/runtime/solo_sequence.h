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

  // Room for `capacity` tokens in each of the model's cache groups (its attention plan's
  // group_kinds()), on a runner made by `factory`: every block of a KV group, slot 0 of a
  // recurrent_state group. Blocks are never reused: window groups keep every page and only their
  // masks apply; the blocks an evicting group compacts away are marked released in its table, as
  // kvcache would.
  SoloSequence(const model::ModelRunnerFactory& factory, int32_t capacity,
               std::span<const kvcache::CacheKind> group_kinds = model::kOnePagedGroup)
      : n_blocks_((capacity + kBlockSize - 1) / kBlockSize) {
    std::vector<int32_t> units;
    for (const kvcache::CacheKind kind : group_kinds) {
      const bool state = kind == kvcache::CacheKind::kRecurrentState;
      units.push_back(state ? 1 : n_blocks_);
      std::vector<int32_t>& table = tables_.emplace_back(state ? 0 : static_cast<size_t>(n_blocks_));
      std::iota(table.begin(), table.end(), 0);
      if (state) state_slot_ = 0;
    }
    runner_ = factory(units, kBlockSize);
  }

  int32_t length() const { return length_; }
  // The prompt's length, for evicting layers (model::BatchSequence::prompt_tokens); by default
  // the first feed is the prompt.
  void set_prompt_tokens(int32_t tokens) { prompt_tokens_ = tokens; }

  // Appends `tokens` and returns the logits model::LogitsWanted asks for.
  std::vector<float> feed(std::span<const int32_t> tokens, model::LogitsWanted logits = model::LogitsWanted::kLast) {
    if (length_ + static_cast<int64_t>(tokens.size()) > int64_t{n_blocks_} * kBlockSize) {
      throw std::invalid_argument("SoloSequence: capacity exceeded");
    }
    if (prompt_tokens_ == 0) prompt_tokens_ = length_ + static_cast<int32_t>(tokens.size());
    std::vector<std::span<const int32_t>> block_tables(tables_.begin(), tables_.end());
    auto out = runner_->forward({model::BatchSequence{.tokens = tokens,
                                                      .start_pos = length_,
                                                      .block_tables = block_tables,
                                                      .logits = logits,
                                                      .state_slot = state_slot_,
                                                      .prompt_tokens = prompt_tokens_}});
    length_ += static_cast<int32_t>(tokens.size());
    for (const model::CompactedBlocks& emptied : runner_->compacted_blocks()) {
      for (const int32_t b : emptied.logical_blocks) tables_[static_cast<size_t>(emptied.group)][static_cast<size_t>(b)] = -1;
    }
    return out;
  }

 private:
  std::unique_ptr<model::ModelRunner> runner_;
  int32_t n_blocks_;                          // per KV group
  std::vector<std::vector<int32_t>> tables_;  // blocks 0, 1, 2, ... in every KV group; empty for a state group
  int32_t state_slot_ = -1;
  int32_t length_ = 0;
  int32_t prompt_tokens_ = 0;
};

}  // namespace strata::runtime
