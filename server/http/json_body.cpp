#include "server/http/json_body.h"

#include <algorithm>
#include <string>

#include "engine/tokenizer/utf8.h"
#include "server/http/api_error.h"

namespace strata::http {
namespace {

// Byte offset of the first byte that does not start a well-formed UTF-8 character, or npos.
size_t first_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = tokenizer::valid_utf8_char_length(text.substr(pos));
    if (n == 0) return pos;
    pos += n;
  }
  return std::string_view::npos;
}

// Deepest nesting of [ and { outside strings; stops counting once past `limit`.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

nlohmann::ordered_json parse_json_object(std::string_view body) {
  if (const size_t bad = first_invalid_utf8(body); bad != std::string_view::npos) {
    throw ApiError(400, "the request body is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  if (nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    throw ApiError(400, "the request body nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth));
  }
  nlohmann::ordered_json value;
  try {
    value = nlohmann::ordered_json::parse(body);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for numbers like 1e400
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!value.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return value;
}

}  // namespace strata::http
