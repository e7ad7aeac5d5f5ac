#include "engine/cuda/model/step_plan.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/attention/eviction.h"

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

StepPlan plan_step(const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size,
                   std::span<const int32_t> blocks_per_group, std::span<const int32_t> evict_budget_blocks) {
  StepPlan plan;
  plan.tokens = static_cast<int>(flat.tokens.size());
  plan.outputs = static_cast<int>(flat.output_rows.size());
  const auto groups = static_cast<int>(blocks_per_group.size());
  int max_blocks = 1;
  bool decode = true;
  for (const auto& seq : batch) {
    for (int g = 0; g < groups; ++g) {
      const auto& table = seq.block_tables[static_cast<size_t>(g)];
      for (const int32_t id : table) {
        if (id < -1 || id >= blocks_per_group[static_cast<size_t>(g)]) {
          throw std::invalid_argument("forward: block id " + std::to_string(id) + " of cache group " + std::to_string(g) +
                                      " is out of range");
        }
      }
      max_blocks = std::max(max_blocks, static_cast<int>(table.size()));
    }
    decode = decode && seq.tokens.size() == 1 && seq.logits == model::LogitsWanted::kLast;
  }
  const int bucket = decode ? graph_bucket(plan.tokens) : 0;
  plan.graph_bucket = bucket;
  StepShape& shape = plan.shape;
  shape.tokens = bucket > 0 ? bucket : plan.tokens;
  shape.outputs = bucket > 0 ? bucket : plan.outputs;
  shape.groups = groups;
  shape.table_rows = bucket > 0 ? bucket : static_cast<int>(batch.size());
  shape.table_width = bucket > 0 ? pow2_at_least(max_blocks, 8) : max_blocks;
  shape.all_outputs = decode;
  shape.max_keys = bucket > 0 ? shape.table_width * block_size : flat.longest;
  // A sequence some evicting group has compacted reads keys other than all its earlier ones,
  // which the tensor-core kernel does not take: all its tokens are listed.
  const auto compacted = [&](const model::BatchSequence& seq) {
    for (size_t g = 0; g < evict_budget_blocks.size(); ++g) {
      if (evict_budget_blocks[g] > 0 &&
          attention::compacted_layout(seq.block_tables[g], evict_budget_blocks[g], block_size).packed_end > 0) {
        return true;
      }
    }
    return false;
  };
  if (bucket == 0) {  // prefill tiles aligned to absolute positions, and the one-token sequences
    int32_t first = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto n_i = static_cast<int32_t>(batch[i].tokens.size());
      if (n_i == 1 || compacted(batch[i])) {
        for (int32_t j = 0; j < n_i; ++j) plan.decode_list.push_back(first + j);
      } else {
        append_prefill_tiles(static_cast<int32_t>(i), first, batch[i].start_pos, n_i, plan.tiles);
      }
      first += n_i;
    }
  }
  shape.prefill_tiles = static_cast<int>(plan.tiles.size());
  shape.listed_decodes = static_cast<int>(plan.decode_list.size());
  plan.completed_blocks.resize(static_cast<size_t>(groups));
  for (size_t t = 0; t < flat.positions.size(); ++t) {
    const int32_t pos = flat.positions[t];
    if ((pos + 1) % block_size != 0) continue;
    for (int g = 0; g < groups; ++g) {
      const auto& table = batch[static_cast<size_t>(flat.sequence[t])].block_tables[static_cast<size_t>(g)];
      plan.completed_blocks[static_cast<size_t>(g)].push_back(table[static_cast<size_t>(pos / block_size)]);
    }
  }
  shape.completed_blocks = bucket > 0 ? bucket : static_cast<int>(plan.completed_blocks.front().size());
  const bool evicts = std::ranges::any_of(evict_budget_blocks, [](int32_t b) { return b > 0; });
  shape.evict_rows = evicts ? shape.table_rows : 0;
  plan.packed_size = shape.total();
  for (int g = 0; g < groups && evicts; ++g) {
    const int32_t budget = evict_budget_blocks[static_cast<size_t>(g)];
    if (budget == 0) continue;
    GroupCompactions gc;
    gc.group = g;
    gc.keep = budget * block_size;
    for (size_t i = 0; i < batch.size(); ++i) {
      const model::BatchSequence& seq = batch[i];
      auto c = attention::plan_compaction(seq.block_tables[static_cast<size_t>(g)], budget, block_size, seq.end(),
                                          seq.prompt_end());
      if (!c) continue;
      gc.candidates += static_cast<int32_t>(c->candidates());
      gc.sequences.push_back(static_cast<int32_t>(i));
      gc.compactions.push_back(std::move(*c));
    }
    if (gc.compactions.empty()) continue;
    gc.rows_at = plan.packed_size;
    gc.candidates_at = gc.rows_at + gc.compactions.size() * (sizeof(CompactionRow) / sizeof(int32_t));
    plan.packed_size = gc.candidates_at + static_cast<size_t>(gc.candidates);
    plan.compactions.push_back(std::move(gc));
  }
  return plan;
}

void pack_step(const StepPlan& plan, const model::ForwardBatch& batch, const model::FlatBatch& flat, int32_t block_size,
               std::span<const int32_t> scratch_blocks, int32_t* out, std::span<const int32_t> evict_budget_blocks) {
  const StepShape& shape = plan.shape;
  std::fill(out, out + shape.total(), 0);
  for (int t = 0; t < shape.tokens; ++t) {
    const auto ut = static_cast<size_t>(t);
    if (t < plan.tokens) {
      const int32_t pos = flat.positions[ut];
      const auto& seq = batch[static_cast<size_t>(flat.sequence[ut])];
      out[t] = flat.tokens[ut];
      out[shape.positions() + ut] = pos;
      out[shape.token_table() + ut] = flat.sequence[ut];
      out[shape.keys() + ut] = pos + 1;
      for (int g = 0; g < shape.groups; ++g) {
        const int32_t block = seq.block_tables[static_cast<size_t>(g)][static_cast<size_t>(pos / block_size)];
        out[shape.slots(g) + ut] = block * block_size + pos % block_size;
      }
    } else {  // padding: one key, in the scratch block, through a table row of its own
      out[shape.token_table() + ut] = t;
      out[shape.keys() + ut] = 1;
      for (int g = 0; g < shape.groups; ++g) out[shape.slots(g) + ut] = scratch_blocks[static_cast<size_t>(g)] * block_size;
    }
  }
  for (int i = 0; i < shape.outputs; ++i) {
    out[shape.output_rows() + static_cast<size_t>(i)] =
        i < plan.outputs ? static_cast<int32_t>(flat.output_rows[static_cast<size_t>(i)]) : i;
  }
  std::memcpy(out + shape.tiles(), plan.tiles.data(), plan.tiles.size() * sizeof(PrefillTile));
  std::copy(plan.decode_list.begin(), plan.decode_list.end(), out + shape.decode_list());
  for (int g = 0; g < shape.groups; ++g) {
    const int32_t scratch = scratch_blocks[static_cast<size_t>(g)];
    const auto& completed = plan.completed_blocks[static_cast<size_t>(g)];
    int32_t* completed_out = out + shape.completed(g);
    std::fill(completed_out, completed_out + shape.completed_blocks, scratch);
    std::copy(completed.begin(), completed.end(), completed_out);
    for (int r = 0; r < shape.table_rows; ++r) {
      int32_t* row = out + shape.tables(g) + static_cast<size_t>(r) * shape.table_width;
      std::fill(row, row + shape.table_width, scratch);
      if (r >= static_cast<int>(batch.size())) continue;
      const auto& table = batch[static_cast<size_t>(r)].block_tables[static_cast<size_t>(g)];
      std::ranges::transform(table, row, [scratch](int32_t id) { return id < 0 ? scratch : id; });  // -1: released
    }
  }
  for (int g = 0; g < shape.groups && shape.evict_rows > 0; ++g) {
    const int32_t budget = evict_budget_blocks[static_cast<size_t>(g)];
    if (budget == 0) continue;
    auto* rows = reinterpret_cast<EvictRow*>(out + shape.evict_rows_of(g));
    int32_t first = 0;
    for (size_t r = 0; r < batch.size(); ++r) {
      const model::BatchSequence& seq = batch[r];
      const attention::CompactedLayout layout =
          attention::compacted_layout(seq.block_tables[static_cast<size_t>(g)], budget, block_size);
      const auto n = static_cast<int32_t>(seq.tokens.size());
      rows[r] = EvictRow{static_cast<int32_t>(layout.packed_end), static_cast<int32_t>(layout.natural_begin),
                         static_cast<int32_t>(seq.prompt_end()), first, n};
      first += n;
    }
  }
  for (const GroupCompactions& gc : plan.compactions) {
    auto* rows = reinterpret_cast<CompactionRow*>(out + gc.rows_at);
    int32_t* candidates = out + gc.candidates_at;
    int32_t first = 0;
    for (size_t ci = 0; ci < gc.compactions.size(); ++ci) {
      const attention::Compaction& c = gc.compactions[ci];
      const model::BatchSequence& seq = batch[static_cast<size_t>(gc.sequences[ci])];
      const auto table = seq.block_tables[static_cast<size_t>(gc.group)];
      const auto n = static_cast<int32_t>(c.candidates());
      for (int32_t i = 0; i < n; ++i) {
        const int64_t slot = c.slot(i);
        candidates[first + i] = table[static_cast<size_t>(slot / block_size)] * block_size + static_cast<int32_t>(slot % block_size);
      }
      rows[ci] = CompactionRow{first, n, static_cast<int32_t>(seq.end()), static_cast<int32_t>(seq.prompt_end()),
                               c.first() ? 1 : 0};
      first += n;
    }
  }
}

}  // namespace strata::cuda
