#include "engine/attention/json_file.h"

#include <fstream>
#include <sstream>

#include "engine/attention/layout_error.h"

namespace strata::attention {

nlohmann::json read_json_object(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw LayoutError(what + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw LayoutError(what + ": not valid JSON");
  if (!doc.is_object()) throw LayoutError(what + ": must be one JSON object");
  return doc;
}

}  // namespace strata::attention
