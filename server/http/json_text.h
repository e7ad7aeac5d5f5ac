// Serialization of every JSON the server sends. Text from the model (token pieces, partial
// characters) and echoes of client input may hold invalid UTF-8; it is written as U+FFFD
// instead of making nlohmann::json throw.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "server/http/http_message.h"

namespace strata::http {

inline std::string to_json_text(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// 200 with `body` as application/json.
inline HttpResponse json_response(const nlohmann::ordered_json& body) {
  HttpResponse response;
  response.body = to_json_text(body);
  return response;
}

}  // namespace strata::http
