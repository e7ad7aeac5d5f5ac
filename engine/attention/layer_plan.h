// What a backend makes of one layer: the cache kind its KV lives in and the keys each query head
// reads. The forward takes its masks from here, kvcache its groups (attention_plan.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/attention/page_selection.h"
#include "engine/attention/query_keys.h"
#include "kvcache/cache_config.h"

namespace strata::attention {

// How an `evict` layer chooses the keys it keeps (evict_backend.h, eviction.h).
enum class EvictPolicy : uint8_t {
  kSnapKv,  // scored once, at the prompt's end, by the last observation_window prompt queries
  kH2O,     // scored by every query that saw the key (accumulated attention)
};

inline std::string_view to_string(EvictPolicy policy) { return policy == EvictPolicy::kSnapKv ? "snapkv" : "h2o"; }

struct EvictionPlan {
  EvictPolicy policy = EvictPolicy::kSnapKv;
  int32_t budget_tokens = 0;  // keys kept per KV head (rounded up to whole blocks by the cache)
  int32_t sink_tokens = 0;    // the first keys, never evicted
  int32_t recent_tokens = 0;  // the newest keys, never evicted (SnapKV: its observation window)
  int32_t pool_kernel = 1;    // SnapKV: width of the max-pool over neighbouring keys' scores
  bool operator==(const EvictionPlan&) const = default;
};

struct LayerPlan {
  std::string_view backend;                                // a registry name (backend_registry.h)
  kvcache::CacheKind cache_kind = kvcache::CacheKind::kPagedKv;
  // A query at position p reads keys [0, sink_tokens) and (p - window, p], window being the
  // head's entry of head_windows or else window_tokens; window_tokens 0 = every earlier key.
  int32_t sink_tokens = 0;
  int32_t window_tokens = 0;
  std::vector<int32_t> head_windows;  // one per query head, each <= window_tokens; empty = uniform
  // kEvictingKv: which keys survive compaction. The keys a query reads then depend on what the
  // sequence compacted (eviction.h's compacted_keys), not on keys() below.
  std::optional<EvictionPlan> eviction;
  // block_topk: of the keys above, each query reads only the pages page_selection.h chooses per
  // KV head; reuse_selection_of >= 0 takes that earlier layer's choice (TidalDecode).
  std::optional<PageBudget> page_budget;
  int32_t reuse_selection_of = -1;

  // Whether its queries score pages, so its blocks carry key bounds.
  bool scores_pages() const { return page_budget.has_value() && reuse_selection_of < 0; }

  int32_t head_window(int head) const {
    return head_windows.empty() ? window_tokens : head_windows[static_cast<size_t>(head)];
  }
  QueryKeys keys(int64_t pos, int head) const { return query_keys(pos, sink_tokens, head_window(head)); }
  bool operator==(const LayerPlan&) const = default;
};

}  // namespace strata::attention
