// A MoA-style plan of per-head windows for sink_window layers, loaded from a JSON file:
//   {"description": "...", "head_windows": {"0-29": [256, 512, 2048], "3": [...]}}
// Keys are layer ranges (layer_range.h), values one window per query head or per KV head (a KV
// head's window then applies to every query head of its group). Windows are in tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/attention/layer_range.h"

namespace strata::attention {

class HeadWindowPlan {
 public:
  // Throws LayoutError naming the file for unreadable JSON, a bad range or a window < 1.
  static HeadWindowPlan load(const std::filesystem::path& path);

  // The windows of `layer`, one per query head, or nullopt when the plan does not name it.
  // LayoutError when a range is out of bounds, two ranges name the layer, or a list has
  // neither n_heads nor n_kv_heads entries.
  std::optional<std::vector<int32_t>> query_head_windows(int32_t layer, int32_t n_layers, int32_t n_heads,
                                                         int32_t n_kv_heads) const;
  // Every layer the plan names (for refusing layers outside the rule that loads it).
  std::vector<int32_t> named_layers(int32_t n_layers) const;
  const std::string& source() const { return source_; }

 private:
  struct Entry {
    LayerRange range;
    std::vector<int32_t> windows;
  };
  std::string source_;  // "head-window plan 'path'": the prefix of its messages
  std::vector<Entry> entries_;
};

}  // namespace strata::attention
