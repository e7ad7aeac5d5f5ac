// The CPU cache of a model under its attention plan: per cache group, a PagedKvStore holding that
// group's layers and as many blocks as kvcache gave the group, or for a recurrent_state group a
// RecurrentStateStore of as many slots.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/attention/attention_plan.h"
#include "engine/model/forward_batch.h"
#include "engine/attention/linear/recurrent_state_store.h"
#include "engine/model/model_config.h"
#include "engine/model/paged_kv_store.h"

namespace strata::model {

class CpuKvCache {
 public:
  // units_per_group: one count per group of `plan`, in its order: blocks, or slots for a
  // recurrent_state group. Throws std::invalid_argument for a count that does not match the plan.
  CpuKvCache(const ModelConfig& config, const attention::AttentionPlan& plan, std::span<const int32_t> units_per_group,
             int32_t block_size);

  int32_t block_size() const { return block_size_; }
  int num_groups() const { return static_cast<int>(groups_.size()); }
  // The store of `layer`'s cache group, and the layer's index within it.
  PagedKvStore& store_of(int layer) { return *groups_[static_cast<size_t>(group_of_[static_cast<size_t>(layer)])].kv; }
  int index_in_group(int layer) const { return index_in_group_[static_cast<size_t>(layer)]; }
  // The state slots of a layer of a recurrent_state group.
  attention::linear::StateSlots state_slots(int layer) const {
    return groups_[static_cast<size_t>(group_of_[static_cast<size_t>(layer)])].state->layer(index_in_group(layer));
  }

  // Copies block (or slot) src to dst of `group` in all its layers (copy-on-write of a shared
  // block; a fork's copy of a state slot).
  void copy_block(int group, int32_t src, int32_t dst);

  // The blocks the latest forward's compactions emptied (evicting groups); the forward resets it.
  std::vector<CompactedBlocks>& compacted() { return compacted_; }

 private:
  struct GroupStore {
    std::optional<PagedKvStore> kv;                                // KV kinds
    std::optional<attention::linear::RecurrentStateStore> state;  // kRecurrentState
  };

  int32_t block_size_;
  std::vector<GroupStore> groups_;
  std::vector<int> group_of_;        // per model layer
  std::vector<int> index_in_group_;  // per model layer
  std::vector<CompactedBlocks> compacted_;
};

}  // namespace strata::model
