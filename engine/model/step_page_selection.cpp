#include "engine/model/step_page_selection.h"

#include <algorithm>

#include "engine/cpu/simd.h"

namespace strata::model {

StepPageSelection::StepPageSelection(const attention::PageBudget& budget, const StepQueries& queries,
                                     const KeyBoundsView& bounds,
                                     const std::function<const int32_t*(int64_t)>& block_table_of, int32_t block_size,
                                     cpu::ThreadPool& pool)
    : n_kv_heads_(queries.n_kv_heads) {
  const auto tokens = static_cast<int64_t>(queries.positions.size());
  const int32_t latest = tokens == 0 ? 0 : *std::ranges::max_element(queries.positions);
  most_pages_ = attention::visible_pages(latest, block_size);
  pages_.resize(static_cast<size_t>(tokens * n_kv_heads_ * most_pages_));
  counts_.resize(static_cast<size_t>(tokens * n_kv_heads_));
  const int group_heads = queries.n_heads / queries.n_kv_heads;
  pool.parallel_for(tokens * n_kv_heads_, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> ranked_scores(static_cast<size_t>(most_pages_));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t token = item / n_kv_heads_;
      const int kv_head = static_cast<int>(item % n_kv_heads_);
      const int32_t* table = block_table_of(token);
      const float* q_group = queries.q + (token * queries.n_heads + kv_head * group_heads) * queries.head_dim;
      const int64_t head_offset = static_cast<int64_t>(kv_head) * queries.head_dim;
      const auto score_of = [&](int32_t page) {
        const int32_t block = table[page];
        return attention::group_page_score(q_group, group_heads, bounds.min(block) + head_offset,
                                           bounds.max(block) + head_offset, queries.head_dim, cpu::fp16_value);
      };
      const int32_t visible = attention::visible_pages(queries.positions[static_cast<size_t>(token)], block_size);
      counts_[static_cast<size_t>(item)] = attention::select_pages(
          budget, visible, score_of, pages_.data() + item * most_pages_, ranked_scores.data());
    }
  }, cpu::kUnevenChunksPerThread);
}

size_t page_key_ranges(std::span<const int32_t> pages, int32_t block_size, int64_t end, attention::KeyRange* ranges) {
  size_t count = 0;
  for (const int32_t page : pages) {
    const int64_t begin = int64_t{page} * block_size;
    if (count > 0 && ranges[count - 1].end == begin) {
      ranges[count - 1].end = std::min(end, begin + block_size);
    } else {
      ranges[count++] = attention::KeyRange{begin, std::min(end, begin + block_size)};
    }
  }
  return count;
}

}  // namespace strata::model
