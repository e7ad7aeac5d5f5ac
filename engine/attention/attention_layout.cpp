#include "engine/attention/attention_layout.h"

#include "engine/attention/json_file.h"
#include "engine/attention/layout_error.h"

namespace strata::attention {

AttentionLayout AttentionLayout::load(const std::filesystem::path& path) {
  const std::string source = "layout '" + path.string() + "'";
  return from_json(read_json_object(path, source), source, path.parent_path());
}

AttentionLayout AttentionLayout::from_json(const nlohmann::json& doc, const std::string& source,
                                           const std::filesystem::path& base_dir) {
  AttentionLayout layout;
  layout.source = source;
  layout.base_dir = base_dir;
  for (const auto& [key, value] : doc.items()) {
    if (key == "description") {
      if (!value.is_string()) throw LayoutError(source + ": \"description\" must be a string");
      layout.description = value.get<std::string>();
    } else if (key != "layers") {
      throw LayoutError(source + ": unknown key '" + key + "' (expected description, layers)");
    }
  }
  const auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_object() || layers->empty()) {
    throw LayoutError(source + ": needs \"layers\": {\"<layer range>\": {\"backend\": ...}, ...}");
  }
  for (const auto& [key, value] : layers->items()) {
    const std::string where = source + ", layers '" + key + "'";
    LayoutRule rule{LayerRange::parse(key, where), {}, value};
    if (!value.is_object()) throw LayoutError(where + ": must be an object with a \"backend\"");
    const auto backend = value.find("backend");
    if (backend == value.end() || !backend->is_string()) throw LayoutError(where + ": needs \"backend\": \"<name>\"");
    rule.backend = backend->get<std::string>();
    rule.params.erase("backend");
    layout.rules.push_back(std::move(rule));
  }
  return layout;
}

}  // namespace strata::attention
