// Request bodies: checked to be UTF-8 and shallow before they are parsed, so no input can make
// the parser (or the destruction of what it built) recurse deeply.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace strata::http {

// Nesting of arrays and objects allowed in a body; OpenAI requests need a handful (tool
// schemas a few more).
inline constexpr int kMaxJsonDepth = 64;

// The body as a JSON object, keys in their original order. Throws ApiError 400 for invalid
// UTF-8, nesting deeper than kMaxJsonDepth, malformed JSON, or a value that is not an object.
nlohmann::ordered_json parse_json_object(std::string_view body);

}  // namespace strata::http
