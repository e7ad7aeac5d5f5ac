#include "server/http/api_router.h"

#include "engine/attention/plan_description.h"

#include <ctime>

#include <spdlog/spdlog.h>

#include "server/http/api_error.h"
#include "server/http/endpoints.h"
#include "server/http/json_body.h"
#include "server/http/json_text.h"
#include "server/http/request_fields.h"

namespace strata::http {
namespace {

struct Route {
  const char* path;
  const char* method;
};

constexpr Route kRoutes[] = {
    {"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"}, {"/v1/models", "GET"}, {"/tokenize", "POST"},
    {"/detokenize", "POST"},     {"/health", "GET"},               {"/metrics", "GET"},
};
constexpr std::string_view kModelPrefix = "/v1/models/";  // GET /v1/models/{name}

const Route* find_route(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  static constexpr Route model_route{"/v1/models/", "GET"};
  if (path.size() > kModelPrefix.size() && path.starts_with(kModelPrefix)) return &model_route;
  return nullptr;
}

ApiError unknown_model(const std::string& name) {
  return ApiError(404, "the model '" + name + "' does not exist", "model", "model_not_found");
}

}  // namespace

ApiRouter::ApiRouter(std::string api_key, std::string model_name, metrics::ServerMetrics& metrics)
    : api_key_(std::move(api_key)),
      model_name_(std::move(model_name)),
      started_(static_cast<int64_t>(std::time(nullptr))),
      metrics_(metrics) {}

void ApiRouter::set_ready(const ServingContext& context) { context_.store(&context); }

bool ApiRouter::authorized(const HttpRequest& request) const {
  if (api_key_.empty()) return true;
  const std::string expected = "Bearer " + api_key_;
  const std::string& given = request.authorization;
  if (given.size() != expected.size()) return false;
  // Every byte is compared, so the time taken does not tell how much of a guess was right.
  unsigned char difference = 0;
  for (size_t i = 0; i < given.size(); ++i) difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return difference == 0;
}

Reply ApiRouter::handle(const HttpRequest& request) const {
  try {
    const Route* route = find_route(request.path);
    // Probes and scrapers need no key (as in vLLM); everything else does when one is set.
    const bool open = request.path == "/health" || request.path == "/metrics";
    if (!open && !authorized(request)) {
      auto response = error_response(ApiError(401, "a valid API key is required (Authorization: Bearer KEY)", {},
                                              "invalid_api_key"));
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return response;
    }
    if (!route) throw ApiError(404, "no such endpoint: " + request.path, {}, "not_found");
    if (request.method != route->method) {
      auto response = error_response(
          ApiError(405, "method " + request.method + " is not allowed on " + request.path + "; use " + route->method, {},
                   "method_not_allowed"));
      response.headers.emplace_back("Allow", route->method);
      return response;
    }
    if (request.path == "/metrics") return metrics_text();
    const ServingContext* context = context_.load();
    if (!context) throw ApiError(503, "the model is still loading", {}, "loading");
    if (draining()) throw ApiError(503, "the server is shutting down", {}, "draining");
    return dispatch(request, *context);
  } catch (const ApiError& e) {
    return error_response(e);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", request.method, request.path, e.what());
    return error_response(ApiError(500, std::string("internal error: ") + e.what()));
  }
}

Reply ApiRouter::dispatch(const HttpRequest& request, const ServingContext& context) const {
  const std::string& path = request.path;
  if (path == "/health") return json_response({{"status", "ok"}});
  if (path == "/v1/models") return models(context);
  if (path.starts_with(kModelPrefix)) {
    const std::string name = path.substr(kModelPrefix.size());
    if (name != model_name_) throw unknown_model(name);
    return json_response(model_card(context));
  }
  const nlohmann::ordered_json body = parse_json_object(request.body);
  if (const auto* model = RequestFields(body).find("model")) {
    if (!model->is_string()) throw invalid_field("model", "'model' must be a string, not " + json_type_name(*model));
    if (model->get<std::string>() != model_name_) throw unknown_model(model->get<std::string>());
  }
  if (path == "/v1/completions") return completion_job(context, body);
  if (path == "/v1/chat/completions") return chat_completion_job(context, body);
  if (path == "/tokenize") return tokenize(context, body);
  return detokenize(context, body);
}

nlohmann::ordered_json ApiRouter::model_card(const ServingContext& context) const {
  return {{"id", model_name_},
          {"object", "model"},
          {"created", started_},
          {"owned_by", "strata"},
          {"max_model_len", context.model.model->config().context_length},
          {"attention", attention::describe_plan(context.model.model->attention_plan())}};
}

HttpResponse ApiRouter::models(const ServingContext& context) const {
  return json_response({{"object", "list"}, {"data", nlohmann::ordered_json::array({model_card(context)})}});
}

HttpResponse ApiRouter::metrics_text() const {
  const ServingContext* context = context_.load();
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = metrics_.render(context ? std::optional(context->engine.stats()) : std::nullopt);
  return response;
}

}  // namespace strata::http
