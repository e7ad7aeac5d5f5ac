#pragma once

// Conversions between JSON and template values: contexts arrive as JSON, and the tojson
// filter writes JSON exactly as Python's json.dumps does.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

Value value_from_json(const nlohmann::json& json);
Value value_from_json(const nlohmann::ordered_json& json);

// The json.dumps parameters Hugging Face's tojson filter exposes.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // unset: single line
  std::optional<std::string> item_separator;  // unset: ", " without indent, "," with it
  std::string key_separator = ": ";
  bool sort_keys = false;
};

std::string dump_json(const Value& value, const JsonDumpOptions& options);

}  // namespace strata::chat
