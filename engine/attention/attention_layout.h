// A layout file (configs/attention/*.json): which backend runs which layers, with its parameters.
//
//   {
//     "description": "free text (optional)",
//     "layers": {
//       "*":    {"backend": "full"},
//       "2-29": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 2048}
//     }
//   }
//
// Keys of "layers" are layer ranges (layer_range.h). A layer takes the rule of the explicit
// range that names it, else the "*" rule, else `full`. Two explicit ranges may overlap only
// where they resolve to the same plan. Every other key of a rule is a parameter of its backend.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/attention/layer_range.h"

namespace strata::attention {

struct LayoutRule {
  LayerRange range;
  std::string backend;
  nlohmann::json params;  // the rule's object without "backend"
};

struct AttentionLayout {
  std::string source;               // "layout 'path'"; empty for the model's own attention
  std::filesystem::path base_dir;   // where files named by parameters are looked for
  std::string description;
  std::vector<LayoutRule> rules;    // none: every layer runs `full`

  // Reads and checks the file's shape (LayoutError naming the file and the key); backends and
  // parameters are checked when the layout is resolved against a model (attention_plan.h).
  static AttentionLayout load(const std::filesystem::path& path);
  static AttentionLayout from_json(const nlohmann::json& doc, const std::string& source,
                                   const std::filesystem::path& base_dir);
};

}  // namespace strata::attention
