// The host half of a GPU step (plan, FlashInfer style): the step's shape as the device sees it
// (padded to a graph bucket for decode steps), its attention work split into tensor-core
// prefill tiles and listed decode tokens, and every input packed into one int32 buffer so one
// upload feeds the step. The device half (CudaDecoderModel::step) only reads what this wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/attention/eviction.h"
#include "engine/cuda/eviction_inputs.h"
#include "engine/cuda/prefill_tile.h"
#include "engine/model/forward_batch.h"

namespace strata::cuda {

struct StepShape {
  int tokens = 0;            // query tokens, padding included
  int outputs = 0;           // logits rows computed
  int groups = 1;            // KV cache groups: each has its own slots, block tables and completed blocks
  int table_rows = 0;        // block-table rows of each group
  int table_width = 0;       // entries per row, every group's padded to the widest
  int max_keys = 0;          // keys of the token that sees the most (a bound, for a graph)
  bool all_outputs = false;  // every token is an output row, in order (no gather)
  int prefill_tiles = 0;     // tensor-core attention tiles (sequences with more than one new token)
  int listed_decodes = 0;    // tokens of one-token sequences (and every token of a sequence an
                             // evicting group has compacted), listed for the split-KV attention
                             // (0 in a graph step: there every token is one, and none is listed)
  int completed_blocks = 0;  // per group, cache blocks whose last slot the step writes (block_topk's
                             // bounds); a graph step has one entry per token, the scratch block as padding
  int evict_rows = 0;        // per group, EvictRows (one per table row) when the model has an evicting
                             // group, else 0; zeros for the other groups and for padding rows

  // Offsets (int32 elements) of the inputs packed into one buffer; a token's cache row (slot)
  // and its sequence's block table differ per group.
  size_t positions() const { return static_cast<size_t>(tokens); }
  size_t token_table() const { return 2 * static_cast<size_t>(tokens); }
  size_t keys() const { return 3 * static_cast<size_t>(tokens); }
  size_t slots(int group) const { return (4 + static_cast<size_t>(group)) * static_cast<size_t>(tokens); }
  size_t output_rows() const { return slots(groups); }
  size_t tables(int group) const {
    return output_rows() + static_cast<size_t>(outputs) + static_cast<size_t>(group) * table_rows * table_width;
  }
  size_t tiles() const { return tables(groups); }
  size_t decode_list() const { return tiles() + 4 * static_cast<size_t>(prefill_tiles); }
  size_t completed(int group) const {
    return decode_list() + static_cast<size_t>(listed_decodes) + static_cast<size_t>(group) * completed_blocks;
  }
  size_t evict_rows_of(int group) const {
    return completed(groups) + static_cast<size_t>(group) * evict_rows * (sizeof(EvictRow) / sizeof(int32_t));
  }
  size_t total() const { return evict_rows_of(groups); }
};

// The compactions of one evicting group at the end of a step (attention::plan_compaction of each
// sequence), and where their inputs sit in the packed buffer, after StepShape::total(): a
// CompactionRow each, then every candidate's cache slot.
struct GroupCompactions {
  int group = 0;
  int32_t keep = 0;                      // the group's budget in slots: what each keeps per KV head
  std::vector<int32_t> sequences;        // batch index of each compaction
  std::vector<attention::Compaction> compactions;
  int32_t candidates = 0;                // of all of them
  size_t rows_at = 0, candidates_at = 0;  // offsets into the packed inputs (int32 elements)
};

struct StepPlan {
  StepShape shape;
  std::vector<GroupCompactions> compactions;  // evicting groups that compact in this step
  size_t packed_size = 0;                     // int32 elements of inputs: shape.total() and the compactions'
  int graph_bucket = 0;  // the decode graph's batch bucket; 0 = the step runs without a graph
  int tokens = 0;        // real query tokens (before padding)
  int outputs = 0;       // real logits rows
  std::vector<PrefillTile> tiles;
  std::vector<int32_t> decode_list;
  // Per group, its real entries (before padding): the same positions complete a block in every
  // group, each in its own block.
  std::vector<std::vector<int32_t>> completed_blocks;
};

// Plans a step of `batch` (already checked and flattened into `flat`) over KV cache groups of
// blocks_per_group[g] blocks, block_tables[g] holding group g's table (paged_kv, window_kv or
// evicting_kv: the CUDA model runs no other kind). evict_budget_blocks[g] is an evicting group's
// budget in blocks, 0 for the other kinds; empty: no group evicts. Throws std::invalid_argument
// for a block id outside [0, blocks_per_group[g]) other than -1 (a block a window released or a
// compaction emptied).
StepPlan plan_step(const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size,
                   std::span<const int32_t> blocks_per_group, std::span<const int32_t> evict_budget_blocks = {});

// Writes the plan's inputs into out[0, plan.packed_size). Group g's scratch block is
// scratch_blocks[g]: padding rows of a graph step use one key there, and released table entries
// point there (no query reads them: they lie outside every window).
void pack_step(const StepPlan& plan, const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size,
               std::span<const int32_t> scratch_blocks, int32_t* out, std::span<const int32_t> evict_budget_blocks = {});

}  // namespace strata::cuda
