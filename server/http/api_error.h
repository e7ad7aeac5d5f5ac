// Errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}} with an HTTP
// status. Endpoint code throws ApiError; the router turns it into the response.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "server/http/http_message.h"

namespace strata::http {

struct ApiError : std::runtime_error {
  // `type` defaults to the one OpenAI uses for `status`; empty `param` / `code` become null.
  ApiError(unsigned status, const std::string& message, std::string param = {}, std::string code = {},
           std::string type = {});

  unsigned status;
  std::string param;
  std::string code;
  std::string type;
};

// 400 invalid_request_error naming the field.
ApiError invalid_field(const std::string& param, const std::string& message);

nlohmann::ordered_json error_json(const ApiError& error);
HttpResponse error_response(const ApiError& error);

}  // namespace strata::http
