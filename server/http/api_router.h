// Routes each request to its endpoint after the checks every endpoint shares: authentication,
// path and method, the server's state (loading, ready, draining) and the `model` field. Never
// throws: every failure becomes an error response in the OpenAI shape.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <variant>

#include "server/http/generation_job.h"
#include "server/http/http_message.h"
#include "server/http/serving_context.h"
#include "server/metrics/server_metrics.h"

namespace strata::http {

// A complete response, or a generation the connection drives through the engine.
using Reply = std::variant<HttpResponse, std::unique_ptr<GenerationJob>>;

class ApiRouter {
 public:
  // `api_key` empty: no authentication.
  ApiRouter(std::string api_key, std::string model_name, metrics::ServerMetrics& metrics);

  // The model is loaded and the engine runs; `context` must outlive the router's use.
  void set_ready(const ServingContext& context);
  // From now on /health answers 503 and new work is refused with 503.
  void start_draining() { draining_.store(true); }
  bool draining() const { return draining_.load(); }
  // Valid once ready; the engine of the jobs this router hands out.
  EngineClient& engine() const { return context_.load()->engine; }

  // May run on several I/O threads at once.
  Reply handle(const HttpRequest& request) const;

 private:
  Reply dispatch(const HttpRequest& request, const ServingContext& context) const;
  bool authorized(const HttpRequest& request) const;
  nlohmann::ordered_json model_card(const ServingContext& context) const;
  HttpResponse models(const ServingContext& context) const;
  HttpResponse metrics_text() const;

  const std::string api_key_;
  const std::string model_name_;
  const int64_t started_;  // `created` of the model in /v1/models
  metrics::ServerMetrics& metrics_;
  std::atomic<const ServingContext*> context_{nullptr};  // null while loading
  std::atomic<bool> draining_{false};
};

}  // namespace strata::http
