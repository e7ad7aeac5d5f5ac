// The per-layer attention contract resolved for one model (DESIGN.md §2): for every layer, how it
// was trained, which backend runs it with which keys, and which cache group holds its KV. Layers
// with the same cache kind and window share a group: one block table per sequence per group.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attention/attention_layout.h"
#include "engine/attention/layer_plan.h"
#include "engine/model/model_config.h"
#include "kvcache/cache_config.h"

namespace strata::attention {

// How the model's weights were trained to attend on a layer.
enum class TrainedAs : uint8_t {
  kFull,     // every earlier key
  kSliding,  // the last trained_window keys
  kLinear,   // no softmax attention: a recurrent cell (Qwen3-Next's gated delta rule)
};
std::string_view to_string(TrainedAs trained);
TrainedAs trained_as(const model::LayerAttentionSpec& layer);

struct LayerAttention {
  TrainedAs trained_as = TrainedAs::kFull;
  int32_t trained_window = 0;  // kSliding: the window in tokens
  std::string rule;            // the layout's range that chose the backend; "default" when none did
  LayerPlan plan;
  int32_t cache_group = 0;
};

struct CacheGroupPlan {
  kvcache::CacheKind kind = kvcache::CacheKind::kPagedKv;
  int32_t sink_tokens = 0;    // kWindowKv
  int32_t window_tokens = 0;  // kWindowKv: the widest window of its layers
  int32_t token_budget = 0;   // kEvictingKv: keys its layers keep per KV head (before block rounding)
  std::vector<int32_t> layers;
  int64_t bytes_per_token = 0;     // KV kinds: all its layers
  int64_t bytes_per_sequence = 0;  // kRecurrentState: one slot in all its layers
  int64_t bytes_per_page = 0;      // KV kinds: all its layers, per block whatever its size (block_topk's key bounds)

  // kEvictingKv: the budget in whole blocks of block_size, as kvcache rounds it.
  int64_t budget_blocks(int32_t block_size) const { return kvcache::blocks_for_tokens(token_budget, block_size); }
  // What one token costs in blocks of block_size: bytes_per_token + bytes_per_page / block_size.
  // LayoutError for a block size that does not divide bytes_per_page (the accounting is exact).
  int64_t bytes_per_token_in_blocks_of(int32_t block_size) const;
};

struct AttentionPlan {
  std::string source;       // the layout it came from; empty for the model's own attention
  std::string description;  // the layout's
  std::vector<LayerAttention> layers;  // one per model layer
  // paged_kv first, then window_kv by (sinks, window), evicting_kv by budget, then recurrent_state
  std::vector<CacheGroupPlan> groups;

  // kvcache's groups, in the same order; an evicting group's budget rounded up to whole blocks.
  std::vector<kvcache::CacheGroupSpec> cache_group_specs(int32_t block_size) const;
  // The kind of each group, in order.
  std::vector<kvcache::CacheKind> group_kinds() const;
  // Whether every group is paged_kv (what the prefix cache needs).
  bool all_paged() const;
  // The cache bytes one sequence of `tokens` tokens holds at most: every block of a paged group,
  // sinks + window + one block of a window group, budget + one block of an evicting group, one
  // slot of a state group (kvcache's resident_units).
  int64_t resident_kv_bytes(int64_t tokens, int32_t block_size) const;
};

// Resolves `layout` against the model: checks every backend name, parameter, range and
// combination, and groups the layers. Throws LayoutError naming the layer and the reason.
AttentionPlan resolve_attention(const AttentionLayout& layout, const model::ModelConfig& config);

}  // namespace strata::attention
