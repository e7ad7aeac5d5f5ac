#include "engine/model/forward_batch.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace strata::model {

FlatBatch flatten(const ForwardBatch& batch, int32_t context_length, int32_t vocab_size, int32_t block_size,
                  std::span<const kvcache::CacheKind> group_kinds) {
  if (batch.empty()) throw std::invalid_argument("forward: empty batch");
  FlatBatch flat;
  for (size_t si = 0; si < batch.size(); ++si) {
    const auto& s = batch[si];
    if (s.tokens.empty()) throw std::invalid_argument("forward: a sequence has no tokens");
    const int64_t end = static_cast<int64_t>(s.start_pos) + static_cast<int64_t>(s.tokens.size());
    if (s.start_pos < 0 || end > context_length) {
      throw std::invalid_argument("forward: positions up to " + std::to_string(end) + " exceed the context length " +
                                  std::to_string(context_length));
    }
    if (s.block_tables.size() != group_kinds.size()) {
      throw std::invalid_argument("forward: " + std::to_string(s.block_tables.size()) + " block tables for " +
                                  std::to_string(group_kinds.size()) + " cache groups");
    }
    for (size_t g = 0; g < group_kinds.size(); ++g) {
      if (group_kinds[g] == kvcache::CacheKind::kRecurrentState) {
        if (s.state_slot < 0) throw std::invalid_argument("forward: a sequence has no state slot");
        continue;
      }
      const auto& table = s.block_tables[g];
      if (static_cast<int64_t>(table.size()) * block_size < end) {
        throw std::invalid_argument("forward: block table of " + std::to_string(table.size()) +
                                    " blocks cannot hold " + std::to_string(end) + " positions");
      }
      for (int64_t b = s.start_pos / block_size; b * block_size < end; ++b) {
        if (table[static_cast<size_t>(b)] < 0) {
          throw std::invalid_argument("forward: block table has no block " + std::to_string(b) +
                                      ", which this step writes");
        }
      }
    }
    const auto first_row = static_cast<int64_t>(flat.tokens.size());
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      const int32_t id = s.tokens[i];
      if (id < 0 || id >= vocab_size) throw std::invalid_argument("forward: token id " + std::to_string(id) + " is out of range");
      flat.tokens.push_back(id);
      flat.positions.push_back(s.start_pos + static_cast<int32_t>(i));
      flat.sequence.push_back(static_cast<int32_t>(si));
    }
    const auto end_row = static_cast<int64_t>(flat.tokens.size());
    if (s.logits == LogitsWanted::kAll) {
      for (int64_t r = first_row; r < end_row; ++r) flat.output_rows.push_back(r);
    } else if (s.logits == LogitsWanted::kLast) {
      flat.output_rows.push_back(end_row - 1);
    }
    flat.longest = std::max(flat.longest, static_cast<int32_t>(end));
  }
  return flat;
}

}  // namespace strata::model
