// Layer ranges as layout files and head-window plans write them: "*" (every layer), "7", "2-29"
// (inclusive), or a comma-separated list of those ("0-1,5").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::attention {

struct LayerRange {
  std::string text;                   // as written, for messages
  bool every_layer = false;           // "*"
  std::vector<std::pair<int32_t, int32_t>> spans;  // inclusive [first, last] pairs otherwise

  // Throws LayoutError (prefixed with `where`) for malformed text or a reversed span.
  static LayerRange parse(const std::string& text, const std::string& where);

  // The layers it names in a model of n_layers; LayoutError naming the first layer out of bounds.
  std::vector<int32_t> layers(int32_t n_layers, const std::string& where) const;
};

}  // namespace strata::attention
