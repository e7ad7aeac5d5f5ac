// The CPU KV cache of a model under its attention plan: one PagedKvStore per cache group, each
// holding that group's layers and as many blocks as kvcache gave the group.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/attention/attention_plan.h"
#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/model/paged_kv_store.h"

namespace strata::model {

class CpuKvCache {
 public:
  // blocks_per_group: one count per group of `plan`, in its order. Throws std::invalid_argument
  // for a count that does not match the plan.
  CpuKvCache(const ModelConfig& config, const attention::AttentionPlan& plan, std::span<const int32_t> blocks_per_group,
             int32_t block_size);

  int32_t block_size() const { return block_size_; }
  int num_groups() const { return static_cast<int>(stores_.size()); }
  // The store of `layer`'s cache group, and the layer's index within it.
  PagedKvStore& store_of(int layer) { return stores_[static_cast<size_t>(group_of_[static_cast<size_t>(layer)])]; }
  int index_in_group(int layer) const { return index_in_group_[static_cast<size_t>(layer)]; }

  // Copies block src to block dst of `group` in all its layers (copy-on-write of a shared block).
  void copy_block(int group, int32_t src, int32_t dst);

  // The blocks the latest forward's compactions emptied (evicting groups); the forward resets it.
  std::vector<CompactedBlocks>& compacted() { return compacted_; }

 private:
  int32_t block_size_;
  std::vector<PagedKvStore> stores_;
  std::vector<int> group_of_;        // per model layer
  std::vector<int> index_in_group_;  // per model layer
  std::vector<CompactedBlocks> compacted_;
};

}  // namespace strata::model
