#include "engine/attention/head_window_plan.h"

#include <algorithm>

#include "engine/attention/json_file.h"
#include "engine/attention/layout_error.h"

namespace strata::attention {

HeadWindowPlan HeadWindowPlan::load(const std::filesystem::path& path) {
  HeadWindowPlan plan;
  plan.source_ = "head-window plan '" + path.string() + "'";
  const nlohmann::json doc = read_json_object(path, plan.source_);
  for (const auto& [key, value] : doc.items()) {
    if (key != "description" && key != "head_windows") {
      throw LayoutError(plan.source_ + ": unknown key '" + key + "' (expected description, head_windows)");
    }
  }
  const auto windows = doc.find("head_windows");
  if (windows == doc.end() || !windows->is_object()) {
    throw LayoutError(plan.source_ + ": needs \"head_windows\": {\"<layers>\": [window per head, ...]}");
  }
  for (const auto& [key, value] : windows->items()) {
    const std::string where = plan.source_ + ", layers '" + key + "'";
    Entry entry{LayerRange::parse(key, where), {}};
    if (!value.is_array() || value.empty()) throw LayoutError(where + ": needs a non-empty list of windows");
    for (const auto& w : value) {
      if (!w.is_number_integer() || w.get<int64_t>() < 1 || w.get<int64_t>() > (int64_t{1} << 30)) {
        throw LayoutError(where + ": every window must be an integer >= 1");
      }
      entry.windows.push_back(w.get<int32_t>());
    }
    plan.entries_.push_back(std::move(entry));
  }
  return plan;
}

std::optional<std::vector<int32_t>> HeadWindowPlan::query_head_windows(int32_t layer, int32_t n_layers, int32_t n_heads,
                                                                       int32_t n_kv_heads) const {
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    const std::vector<int32_t> layers = entry.range.layers(n_layers, source_);
    if (std::ranges::find(layers, layer) == layers.end()) continue;
    if (found != nullptr) {
      throw LayoutError(source_ + ": layer " + std::to_string(layer) + " is named by both '" + found->range.text +
                        "' and '" + entry.range.text + "'");
    }
    found = &entry;
  }
  if (found == nullptr) return std::nullopt;
  const auto count = static_cast<int32_t>(found->windows.size());
  if (count == n_heads) return found->windows;
  if (count != n_kv_heads) {
    throw LayoutError(source_ + ", layers '" + found->range.text + "': " + std::to_string(count) +
                      " windows, expected one per query head (" + std::to_string(n_heads) + ") or per KV head (" +
                      std::to_string(n_kv_heads) + ")");
  }
  std::vector<int32_t> per_query_head;
  const int32_t group = n_heads / n_kv_heads;
  for (int32_t h = 0; h < n_heads; ++h) per_query_head.push_back(found->windows[static_cast<size_t>(h / group)]);
  return per_query_head;
}

std::vector<int32_t> HeadWindowPlan::named_layers(int32_t n_layers) const {
  std::vector<int32_t> out;
  for (const Entry& entry : entries_) {
    for (const int32_t layer : entry.range.layers(n_layers, source_)) out.push_back(layer);
  }
  return out;
}

}  // namespace strata::attention
