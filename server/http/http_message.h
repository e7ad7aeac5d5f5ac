// The transport-independent view of one HTTP exchange: what the endpoints read and return.
// Only the session code (http_session.cpp) knows Boost.Beast.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace strata::http {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string path;           // the target without its query string
  std::string authorization;  // the Authorization header; empty when absent
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones: Retry-After, Allow, ...
};

}  // namespace strata::http
