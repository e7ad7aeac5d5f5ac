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
  // recurrent_state group. Blocks are never released: window groups keep every page and only
  // their masks apply.
  SoloSequence(const model::ModelRunnerFactory& factory, int32_t capacity,
               std::span<const kvcache::CacheKind> group_kinds = model::kOnePagedGroup)
      : block_table_(static_cast<size_t>((capacity + kBlockSize - 1) / kBlockSize)) {
    std::iota(block_table_.begin(), block_table_.end(), 0);
    std::vector<int32_t> units;
    for (const kvcache::CacheKind kind : group_kinds) {
      const bool state = kind == kvcache::CacheKind::kRecurrentState;
      units.push_back(state ? 1 : static_cast<int32_t>(block_table_.size()));
      block_tables_.push_back(state ? std::span<const int32_t>() : std::span<const int32_t>(block_table_));
      if (state) state_slot_ = 0;
    }
    runner_ = factory(units, kBlockSize);
  }

  int32_t length() const { return length_; }

  // Appends `tokens` and returns the logits model::LogitsWanted asks for.
  std::vector<float> feed(std::span<const int32_t> tokens, model::LogitsWanted logits = model::LogitsWanted::kLast) {
    if (length_ + static_cast<int64_t>(tokens.size()) > static_cast<int64_t>(block_table_.size()) * kBlockSize) {
      throw std::invalid_argument("SoloSequence: capacity exceeded");
    }
    auto out = runner_->forward({model::BatchSequence{tokens, length_, block_tables_, logits, state_slot_}});
    length_ += static_cast<int32_t>(tokens.size());
    return out;
  }

 private:
  std::unique_ptr<model::ModelRunner> runner_;
  std::vector<int32_t> block_table_;  // blocks 0, 1, 2, ... in every group
  std::vector<std::span<const int32_t>> block_tables_;
  int32_t state_slot_ = -1;
  int32_t length_ = 0;
};

}  // namespace strata::runtime
