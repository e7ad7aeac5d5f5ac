#include "engine/attention/eviction.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace strata::attention {

CompactedLayout compacted_layout(std::span<const int32_t> table, int64_t budget_blocks, int32_t block_size) {
  const auto n = static_cast<int64_t>(table.size());
  if (budget_blocks >= n || table[static_cast<size_t>(budget_blocks)] >= 0) return {};
  int64_t first_held = budget_blocks + 1;
  while (first_held < n && table[static_cast<size_t>(first_held)] < 0) ++first_held;
  return CompactedLayout{budget_blocks * block_size, first_held * block_size};
}

std::optional<Compaction> plan_compaction(std::span<const int32_t> table, int64_t budget_blocks, int32_t block_size,
                                          int64_t step_end, int64_t prompt_end) {
  if (step_end < prompt_end) return std::nullopt;
  const CompactedLayout layout = compacted_layout(table, budget_blocks, block_size);
  const int64_t full_blocks = step_end / block_size;
  const int64_t kept_blocks = layout.packed_end > 0 ? layout.natural_begin / block_size : budget_blocks;
  if (full_blocks <= kept_blocks) return std::nullopt;
  Compaction c{layout, full_blocks * block_size, budget_blocks * block_size, {}};
  for (int64_t b = budget_blocks; b < full_blocks; ++b) {
    if (table[static_cast<size_t>(b)] >= 0) c.emptied.push_back(static_cast<int32_t>(b));
  }
  return c;
}

bool scores_query(const EvictionPlan& plan, int64_t pos, int64_t prompt_end) {
  if (plan.policy == EvictPolicy::kH2O) return true;
  return pos < prompt_end && pos >= prompt_end - plan.recent_tokens;
}

std::vector<float> max_pooled(std::span<const float> scores, int32_t kernel) {
  const auto n = static_cast<int64_t>(scores.size());
  const int64_t half = kernel / 2;
  std::vector<float> out(scores.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto from = scores.begin() + std::max<int64_t>(0, i - half);
    const auto to = scores.begin() + std::min(n, i + half + 1);
    out[static_cast<size_t>(i)] = *std::max_element(from, to);
  }
  return out;
}

std::vector<int32_t> select_kept(const EvictionPlan& plan, std::span<const int32_t> positions,
                                 std::span<const float> scores, int64_t keep, int64_t tokens_end, int64_t prompt_end) {
  const auto n = static_cast<int32_t>(positions.size());
  const auto is_protected = [&](int32_t i) {
    const int32_t pos = positions[static_cast<size_t>(i)];
    return pos < plan.sink_tokens || pos >= tokens_end - plan.recent_tokens;
  };
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const auto is_generated = [&](int32_t i) {
    return plan.policy == EvictPolicy::kSnapKv && positions[static_cast<size_t>(i)] >= prompt_end;
  };
  // Protected first, then generated (SnapKV), then by score, newer first on ties: the first `keep` stay.
  const auto rank = [&](int32_t i) {
    return std::make_tuple(!is_protected(i), !is_generated(i), -scores[static_cast<size_t>(i)],
                           -positions[static_cast<size_t>(i)]);
  };
  const auto kept = std::min<int64_t>(keep, n);
  std::partial_sort(order.begin(), order.begin() + kept, order.end(),
                    [&](int32_t a, int32_t b) { return rank(a) < rank(b); });
  order.resize(static_cast<size_t>(kept));
  std::ranges::sort(order);
  return order;
}

std::vector<int32_t> choose_kept(const EvictionPlan& plan, const Compaction& c, std::span<const int32_t> positions,
                                 std::vector<float>& scores, int64_t tokens_end, int64_t prompt_end) {
  if (plan.policy == EvictPolicy::kSnapKv && c.first()) scores = max_pooled(scores, plan.pool_kernel);
  return select_kept(plan, positions, scores, c.keep, tokens_end, prompt_end);
}

}  // namespace strata::attention
