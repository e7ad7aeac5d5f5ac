#include "server/http/api_error.h"

#include "server/http/json_text.h"

namespace strata::http {
namespace {

std::string default_type(unsigned status) {
  switch (status) {
    case 401: return "authentication_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::ordered_json string_or_null(const std::string& s) { return s.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s); }

}  // namespace

ApiError::ApiError(unsigned status_, const std::string& message, std::string param_, std::string code_, std::string type_)
    : std::runtime_error(message),
      status(status_),
      param(std::move(param_)),
      code(std::move(code_)),
      type(type_.empty() ? default_type(status_) : std::move(type_)) {}

ApiError invalid_field(const std::string& param, const std::string& message) { return ApiError(400, message, param); }

nlohmann::ordered_json error_json(const ApiError& error) {
  return {{"error",
           {{"message", error.what()}, {"type", error.type}, {"param", string_or_null(error.param)},
            {"code", string_or_null(error.code)}}}};
}

HttpResponse error_response(const ApiError& error) {
  HttpResponse response = json_response(error_json(error));
  response.status = error.status;
  return response;
}

}  // namespace strata::http
