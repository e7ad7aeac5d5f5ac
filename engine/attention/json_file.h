// Reads a JSON object from a file for the attention configuration (layouts, head-window plans).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace strata::attention {

// Throws LayoutError prefixed with `what` when the file cannot be read, is not JSON, or is not
// one object.
nlohmann::json read_json_object(const std::filesystem::path& path, const std::string& what);

}  // namespace strata::attention
