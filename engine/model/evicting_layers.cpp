#include "engine/model/evicting_layers.h"

#include <algorithm>
#include <array>

#include "engine/attention/eviction.h"
#include "engine/cpu/ops.h"

namespace strata::model {

void write_slot_metadata(PagedKvStore& store, int layer, const int32_t* block_table, int32_t pos, int n_kv_heads) {
  std::fill_n(store.positions_at(layer, block_table, pos), n_kv_heads, pos);
  std::fill_n(store.scores_at(layer, block_table, pos), n_kv_heads, 0.0f);
}

void evicting_attention(const ForwardBatch& batch, const FlatBatch& flat, size_t group, int64_t budget_blocks,
                        const attention::EvictionPlan& plan, PagedKvStore& store, int layer, const ModelConfig& config,
                        float score_scale, const float* q, float* out, cpu::ThreadPool& pool) {
  const int64_t q_dim = int64_t{config.n_heads} * config.head_dim;
  const int heads_per_kv = config.n_heads / config.n_kv_heads;
  std::vector<int64_t> first_row(batch.size() + 1, 0);
  for (size_t si = 0; si < batch.size(); ++si) {
    first_row[si + 1] = first_row[si] + static_cast<int64_t>(batch[si].tokens.size());
  }
  // One item per (sequence, KV head): its slots' scores have one writer, in query order.
  const auto n_kv = static_cast<int64_t>(config.n_kv_heads);
  pool.parallel_for(static_cast<int64_t>(batch.size()) * n_kv, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> weights(static_cast<size_t>(flat.longest));
    for (int64_t item = begin; item < end; ++item) {
      const auto si = static_cast<size_t>(item / n_kv);
      const int kv_head = static_cast<int>(item % n_kv);
      const BatchSequence& s = batch[si];
      const std::span<const int32_t> table = s.block_tables[group];
      const attention::CompactedLayout layout = attention::compacted_layout(table, budget_blocks, store.block_size());
      const cpu::PagedKvView k = store.k_view(layer, table.data()), v = store.v_view(layer, table.data());
      for (int64_t row = first_row[si]; row < first_row[si + 1]; ++row) {
        const int32_t pos = flat.positions[static_cast<size_t>(row)];
        const std::array<attention::KeyRange, 2> keys = layout.keys(pos).ranges();
        const bool scores = attention::scores_query(plan, pos, s.prompt_end());
        for (int head = kv_head * heads_per_kv; head < (kv_head + 1) * heads_per_kv; ++head) {
          cpu::attention_one_query(q + row * q_dim, k, v, keys, head, config.n_heads, config.n_kv_heads,
                                   config.head_dim, score_scale, weights.data(), out + row * q_dim);
          if (!scores) continue;
          for (const attention::KeyRange& range : keys) {
            for (int64_t t = range.begin; t < range.end; ++t) {
              store.scores_at(layer, table.data(), t)[kv_head] += weights[t];
            }
          }
        }
      }
    }
  }, cpu::kUnevenChunksPerThread);
}

namespace {

// One (layer, KV head) of one sequence: keeps its choice among the candidates, packed at the front.
void compact_head(const attention::Compaction& c, const attention::EvictionPlan& plan, PagedKvStore& store, int layer,
                  const int32_t* table, int kv_head, int head_dim, int64_t tokens_end, int64_t prompt_end) {
  const int64_t n = c.candidates();
  std::vector<int32_t> positions(static_cast<size_t>(n));
  std::vector<float> scores(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    positions[static_cast<size_t>(i)] = store.positions_at(layer, table, c.slot(i))[kv_head];
    scores[static_cast<size_t>(i)] = store.scores_at(layer, table, c.slot(i))[kv_head];
  }
  const std::vector<int32_t> kept = attention::choose_kept(plan, c, positions, scores, tokens_end, prompt_end);
  // Slot j takes candidate kept[j], whose slot is >= j and not yet overwritten (kept ascends).
  const int64_t offset = int64_t{kv_head} * head_dim;
  for (size_t j = 0; j < kept.size(); ++j) {
    const int64_t src = c.slot(kept[j]);
    const auto dst = static_cast<int64_t>(j);
    if (src != dst) {
      std::copy_n(store.k_at(layer, table, src) + offset, head_dim, store.k_at(layer, table, dst) + offset);
      std::copy_n(store.v_at(layer, table, src) + offset, head_dim, store.v_at(layer, table, dst) + offset);
    }
    store.positions_at(layer, table, dst)[kv_head] = positions[static_cast<size_t>(kept[j])];
    store.scores_at(layer, table, dst)[kv_head] = scores[static_cast<size_t>(kept[j])];
  }
}

}  // namespace

void compact_evicting_group(const ForwardBatch& batch, size_t group, int64_t budget_blocks,
                            std::span<const attention::EvictionPlan* const> layer_plans, PagedKvStore& store,
                            const ModelConfig& config, std::vector<CompactedBlocks>& compacted) {
  for (size_t si = 0; si < batch.size(); ++si) {
    const BatchSequence& s = batch[si];
    const std::span<const int32_t> table = s.block_tables[group];
    const auto c = attention::plan_compaction(table, budget_blocks, store.block_size(), s.end(), s.prompt_end());
    if (!c) continue;
    for (size_t layer = 0; layer < layer_plans.size(); ++layer) {
      for (int kv_head = 0; kv_head < config.n_kv_heads; ++kv_head) {
        compact_head(*c, *layer_plans[layer], store, static_cast<int>(layer), table.data(), kv_head, config.head_dim,
                     s.end(), s.prompt_end());
      }
    }
    compacted.push_back(CompactedBlocks{static_cast<int32_t>(si), static_cast<int32_t>(group), c->emptied});
  }
}

}  // namespace strata::model
