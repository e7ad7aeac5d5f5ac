// The host half of a GPU step (plan, FlashInfer style): the step's shape as the device sees it
// (padded to a graph bucket for decode steps), its attention work split into tensor-core
// prefill tiles and listed decode tokens, and every input packed into one int32 buffer so one
// upload feeds the step. The device half (CudaLlamaModel::step) only reads what this wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/cuda/prefill_tile.h"
#include "engine/model/forward_batch.h"

namespace strata::cuda {

struct StepShape {
  int tokens = 0;            // query tokens, padding included
  int outputs = 0;           // logits rows computed
  int table_rows = 0;        // block-table rows
  int table_width = 0;       // entries per row
  int max_keys = 0;          // keys of the token that sees the most (a bound, for a graph)
  bool all_outputs = false;  // every token is an output row, in order (no gather)
  int prefill_tiles = 0;     // tensor-core attention tiles (sequences with more than one new token)
  int listed_decodes = 0;    // tokens of one-token sequences, listed for the split-KV attention
                             // (0 in a graph step: there every token is one, and none is listed)
  int completed_blocks = 0;  // cache blocks whose last slot the step writes (block_topk's bounds);
                             // a graph step has one entry per token, the scratch block as padding

  // Offsets (int32 elements) of the inputs packed into one buffer.
  size_t positions() const { return static_cast<size_t>(tokens); }
  size_t slots() const { return 2 * static_cast<size_t>(tokens); }
  size_t token_table() const { return 3 * static_cast<size_t>(tokens); }
  size_t keys() const { return 4 * static_cast<size_t>(tokens); }
  size_t output_rows() const { return 5 * static_cast<size_t>(tokens); }
  size_t tables() const { return output_rows() + static_cast<size_t>(outputs); }
  size_t tiles() const { return tables() + static_cast<size_t>(table_rows) * table_width; }
  size_t decode_list() const { return tiles() + 4 * static_cast<size_t>(prefill_tiles); }
  size_t completed() const { return decode_list() + static_cast<size_t>(listed_decodes); }
  size_t total() const { return completed() + static_cast<size_t>(completed_blocks); }
};

struct StepPlan {
  StepShape shape;
  int graph_bucket = 0;  // the decode graph's batch bucket; 0 = the step runs without a graph
  int tokens = 0;        // real query tokens (before padding)
  int outputs = 0;       // real logits rows
  std::vector<PrefillTile> tiles;
  std::vector<int32_t> decode_list;
  std::vector<int32_t> completed_blocks;  // real entries (before padding)
};

// Plans a step of `batch` (already checked and flattened into `flat`; one cache group: the CUDA
// model runs paged `full` and `block_topk` layers, its table in block_tables[0]). Throws
// std::invalid_argument for a block id outside [0, n_blocks).
StepPlan plan_step(const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size, int32_t n_blocks);

// Writes the plan's inputs into out[0, plan.shape.total()). Padding rows of a graph step use one
// key in block `scratch_block`.
void pack_step(const StepPlan& plan, const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size,
               int32_t scratch_block, int32_t* out);

}  // namespace strata::cuda
