// Serialization of every JSON the server sends. Text from the model (token pieces, partial
// characters) and echoes of client input may hold invalid UTF-8; it is written as U+FFFD
// instead of making nlohmann::json throw.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace strata::http {

inline std::string to_json_text(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace strata::http
