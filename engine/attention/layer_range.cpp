#include "engine/attention/layer_range.h"

#include <charconv>
#include <string_view>

#include "engine/attention/layout_error.h"

namespace strata::attention {
namespace {

int32_t parse_layer(std::string_view text, const std::string& where, const std::string& whole) {
  int32_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0) {
    throw LayoutError(where + ": layer range '" + whole + "' is not \"*\", \"N\", \"A-B\" or a comma-separated list of those");
  }
  return value;
}

}  // namespace

LayerRange LayerRange::parse(const std::string& text, const std::string& where) {
  LayerRange range;
  range.text = text;
  if (text == "*") {
    range.every_layer = true;
    return range;
  }
  std::string_view rest = text;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t dash = item.find('-');
    const int32_t first = parse_layer(item.substr(0, dash), where, text);
    const int32_t last = dash == std::string_view::npos ? first : parse_layer(item.substr(dash + 1), where, text);
    if (last < first) throw LayoutError(where + ": layer range '" + text + "' runs backwards");
    range.spans.emplace_back(first, last);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return range;
}

std::vector<int32_t> LayerRange::layers(int32_t n_layers, const std::string& where) const {
  std::vector<int32_t> out;
  if (every_layer) {
    for (int32_t i = 0; i < n_layers; ++i) out.push_back(i);
    return out;
  }
  for (const auto& [first, last] : spans) {
    if (last >= n_layers) {
      throw LayoutError(where + ": layer range '" + text + "' names layer " + std::to_string(last) +
                        ", out of bounds (the model has " + std::to_string(n_layers) + " layers: 0-" +
                        std::to_string(n_layers - 1) + ")");
    }
    for (int32_t i = first; i <= last; ++i) out.push_back(i);
  }
  return out;
}

}  // namespace strata::attention
