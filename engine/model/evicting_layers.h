// The CPU side of `evict` layers (attention/eviction.h): each key's slot metadata, attention over
// the keys a sequence kept plus those written since with the keys' scores accumulated, and the
// compaction at the end of a step.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/attention/layer_plan.h"
#include "engine/cpu/thread_pool.h"
#include "engine/model/forward_batch.h"
#include "engine/model/model_config.h"
#include "engine/model/paged_kv_store.h"

namespace strata::model {

// Token `pos` was just written at its own slot of `layer`: its position, and a score of 0.
void write_slot_metadata(PagedKvStore& store, int layer, const int32_t* block_table, int32_t pos, int n_kv_heads);

// One evicting layer's attention over the batch, q [tokens x n_heads x head_dim] to out (alike):
// each query reads its sequence's kept keys and those written since (CompactedLayout), and where
// the plan scores the query (scores_query) adds each read key's softmax weight, summed over the
// KV head's query heads, to the key's score -- in query order, so chunks sum as one shot does.
void evicting_attention(const ForwardBatch& batch, const FlatBatch& flat, size_t group, int64_t budget_blocks,
                        const attention::EvictionPlan& plan, PagedKvStore& store, int layer, const ModelConfig& config,
                        float score_scale, const float* q, float* out, cpu::ThreadPool& pool);

// Compacts every sequence of the batch that plan_compaction says must, in each layer of the
// group's store (layer_plans in the store's layer order): each (layer, KV head) keeps its
// select_kept choice -- SnapKV's scores max-pooled at a sequence's first compaction -- packed in
// position order into the front slots, metadata along. Appends the emptied blocks to `compacted`.
void compact_evicting_group(const ForwardBatch& batch, size_t group, int64_t budget_blocks,
                            std::span<const attention::EvictionPlan* const> layer_plans, PagedKvStore& store,
                            const ModelConfig& config, std::vector<CompactedBlocks>& compacted);

}  // namespace strata::model
