#include "engine/cuda/model/step_plan.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace strata::cuda {
namespace {

// Decode batches are padded up to one of these sizes so a few graphs serve every batch.
constexpr int kGraphBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256};

int graph_bucket(int n) {
  for (int b : kGraphBuckets) {
    if (b >= n) return b;
  }
  return 0;  // larger batches run without a graph
}

int pow2_at_least(int n, int floor) {
  int p = floor;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

StepPlan plan_step(const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size, int32_t n_blocks) {
  StepPlan plan;
  plan.tokens = static_cast<int>(flat.tokens.size());
  plan.outputs = static_cast<int>(flat.output_rows.size());
  int max_blocks = 1;
  bool decode = true;
  for (const auto& seq : batch) {
    for (const int32_t id : seq.block_tables[0]) {
      if (id < 0 || id >= n_blocks) throw std::invalid_argument("forward: block id " + std::to_string(id) + " is out of range");
    }
    max_blocks = std::max(max_blocks, static_cast<int>(seq.block_tables[0].size()));
    decode = decode && seq.tokens.size() == 1 && seq.logits == model::LogitsWanted::kLast;
  }
  const int bucket = decode ? graph_bucket(plan.tokens) : 0;
  plan.graph_bucket = bucket;
  StepShape& shape = plan.shape;
  shape.tokens = bucket > 0 ? bucket : plan.tokens;
  shape.outputs = bucket > 0 ? bucket : plan.outputs;
  shape.table_rows = bucket > 0 ? bucket : static_cast<int>(batch.size());
  shape.table_width = bucket > 0 ? pow2_at_least(max_blocks, 8) : max_blocks;
  shape.all_outputs = decode;
  shape.max_keys = bucket > 0 ? shape.table_width * block_size : flat.longest;
  if (bucket == 0) {  // prefill tiles aligned to absolute positions, and the one-token sequences
    int32_t first = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto n_i = static_cast<int32_t>(batch[i].tokens.size());
      if (n_i == 1) {
        plan.decode_list.push_back(first);
      } else {
        append_prefill_tiles(static_cast<int32_t>(i), first, batch[i].start_pos, n_i, plan.tiles);
      }
      first += n_i;
    }
  }
  shape.prefill_tiles = static_cast<int>(plan.tiles.size());
  shape.listed_decodes = static_cast<int>(plan.decode_list.size());
  for (size_t t = 0; t < flat.positions.size(); ++t) {
    const int32_t pos = flat.positions[t];
    if ((pos + 1) % block_size != 0) continue;
    plan.completed_blocks.push_back(batch[static_cast<size_t>(flat.sequence[t])].block_tables[0][static_cast<size_t>(pos / block_size)]);
  }
  shape.completed_blocks = bucket > 0 ? bucket : static_cast<int>(plan.completed_blocks.size());
  return plan;
}

void pack_step(const StepPlan& plan, const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size,
               int32_t scratch_block, int32_t* out) {
  const StepShape& shape = plan.shape;
  std::fill(out, out + shape.total(), 0);
  for (int t = 0; t < shape.tokens; ++t) {
    const auto ut = static_cast<size_t>(t);
    if (t < plan.tokens) {
      const int32_t pos = flat.positions[ut];
      const int32_t block = batch[static_cast<size_t>(flat.sequence[ut])].block_tables[0][static_cast<size_t>(pos / block_size)];
      out[t] = flat.tokens[ut];
      out[shape.positions() + ut] = pos;
      out[shape.slots() + ut] = block * block_size + pos % block_size;
      out[shape.token_table() + ut] = flat.sequence[ut];
      out[shape.keys() + ut] = pos + 1;
    } else {  // padding: one key, in the scratch block, through a table row of its own
      out[shape.slots() + ut] = scratch_block * block_size;
      out[shape.token_table() + ut] = t;
      out[shape.keys() + ut] = 1;
    }
  }
  for (int i = 0; i < shape.outputs; ++i) {
    out[shape.output_rows() + static_cast<size_t>(i)] =
        i < plan.outputs ? static_cast<int32_t>(flat.output_rows[static_cast<size_t>(i)]) : i;
  }
  std::memcpy(out + shape.tiles(), plan.tiles.data(), plan.tiles.size() * sizeof(PrefillTile));
  std::copy(plan.decode_list.begin(), plan.decode_list.end(), out + shape.decode_list());
  int32_t* completed = out + shape.completed();
  std::fill(completed, completed + shape.completed_blocks, scratch_block);
  std::copy(plan.completed_blocks.begin(), plan.completed_blocks.end(), completed);
  for (int r = 0; r < shape.table_rows; ++r) {
    int32_t* row = out + shape.tables() + static_cast<size_t>(r) * shape.table_width;
    std::fill(row, row + shape.table_width, scratch_block);
    if (r >= static_cast<int>(batch.size())) continue;
    const auto& table = batch[static_cast<size_t>(r)].block_tables[0];
    std::copy(table.begin(), table.end(), row);
  }
}

}  // namespace strata::cuda
