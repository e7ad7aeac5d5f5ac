#include "engine/model/cached_reads.h"

#include <stdexcept>
#include <string>

#include "engine/attention/eviction.h"
#include "engine/attention/query_keys.h"

namespace strata::model {

void check_reads_are_cached(const ForwardBatch& batch, const attention::AttentionPlan& plan, int32_t block_size) {
  for (const BatchSequence& s : batch) {
    for (size_t g = 0; g < plan.groups.size(); ++g) {
      const auto& group = plan.groups[g];
      if (group.kind == kvcache::CacheKind::kRecurrentState) continue;
      const auto& table = s.block_tables[g];
      const attention::QueryKeys keys =
          group.kind == kvcache::CacheKind::kEvictingKv
              ? attention::compacted_layout(table, group.budget_blocks(block_size), block_size).keys(s.start_pos)
              : attention::query_keys(s.start_pos, group.sink_tokens, group.window_tokens);
      const auto check = [&](int64_t from, int64_t to) {
        for (int64_t b = from / block_size; b * block_size < to; ++b) {
          if (table[static_cast<size_t>(b)] < 0) {
            throw std::invalid_argument("forward: cache group " + std::to_string(g) + " has released block " +
                                        std::to_string(b) + ", which this step reads");
          }
        }
      };
      check(0, keys.sink_end);
      check(keys.window_begin, static_cast<int64_t>(s.start_pos) + static_cast<int64_t>(s.tokens.size()));
    }
  }
}

}  // namespace strata::model
