// strata serve: the OpenAI-compatible HTTP server. It listens first (answering 503 while the
// model loads, so probes see it coming up), then serves until SIGTERM / SIGINT and a drain.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "scheduler/inference_engine.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"
#include "server/cli/log_format.h"
#include "server/cli/device_option.h"
#include "server/cli/model_option.h"
#include "server/cli/scheduler_options.h"
#include "server/http/api_router.h"
#include "server/http/chat_prompt.h"
#include "server/grpc/grpc_frontend.h"
#include "server/http/engine_client.h"
#include "server/http/http_server.h"
#include "server/http/serving_context.h"
#include "server/metrics/server_metrics.h"

namespace strata::cli {
namespace {

// The file name without ".gguf": what clients pass as `model` unless --served-model-name says.
std::string default_model_name(const std::string& path) {
  std::filesystem::path p(path);
  return p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
}

std::string api_key(const ArgParser& p) {
  if (p.has("--api-key")) return p.get_string("--api-key");
  const char* from_env = std::getenv("STRATA_API_KEY");
  return from_env ? from_env : "";
}

}  // namespace

int run_serve(const Args& args) {
  ArgParser p("serve");
  p.option("--model", "PATH", "GGUF model file", true);
  p.option("--host", "ADDR", "address to listen on (default 127.0.0.1)");
  p.option("--port", "N", "TCP port, 0 = any free one (default 8080)");
  p.option("--config", "FILE", "JSON object of these settings by name, e.g. {\"port\": 8080}; flags win");
  p.option("--grpc-port", "N", "gRPC port (strata.v1.Inference, health, reflection), 0 = any free one (default 50051)");
  p.option("--api-key", "KEY", "require 'Authorization: Bearer KEY' (default: $STRATA_API_KEY, else none)");
  p.option("--served-model-name", "NAME", "the model's name in the API (default: the file name without .gguf)");
  p.option("--threads", "N", "CPU threads of the model, 0 = all (default 0)");
  p.option("--max-body-bytes", "N", "largest request body accepted (default 8388608 = 8 MiB)");
  p.option("--shutdown-grace-seconds", "S", "on SIGTERM/SIGINT, time running requests get to finish (default 30)");
  p.option("--log-format", "FORMAT", "text or json (default text)");
  add_scheduler_options(p);
  add_device_option(p);
  add_attention_option(p);
  if (!p.parse(args)) return 0;
  set_log_format(p.get_string("--log-format", "text"));
  const std::string model_path = p.get_string("--model");
  const std::string model_name = p.get_string("--served-model-name", default_model_name(model_path));
  if (model_name.empty()) throw UsageError("--served-model-name must not be empty");
  http::HttpServerOptions options;
  options.host = p.get_string("--host", options.host);
  options.port = static_cast<uint16_t>(p.get_int("--port", options.port, 0, 65535));
  options.max_body_bytes = static_cast<size_t>(p.get_int("--max-body-bytes", static_cast<int64_t>(options.max_body_bytes), 1,
                                                         int64_t{1} << 32));
  options.shutdown_grace = std::chrono::seconds(p.get_int("--shutdown-grace-seconds", options.shutdown_grace.count(), 0, 86400));
  const int grpc_port = static_cast<int>(p.get_int("--grpc-port", 50051, 0, 65535));
  const scheduler::SchedulerConfig scheduler_settings = scheduler_config(p);

  const std::string key = api_key(p);

  metrics::ServerMetrics metrics(model_name);
  http::ApiRouter router(key, model_name, metrics);
  http::HttpServer server(options, router);
  spdlog::info("listening on http://{}:{} (503 until the model is loaded){}", options.host, server.port(),
               key.empty() ? "" : "; API key required");

  const auto load_start = std::chrono::steady_clock::now();
  std::error_code size_error;  // a missing file is reported by load() below
  const auto file_bytes = std::filesystem::file_size(model_path, size_error);
  spdlog::info("loading {} ({:.1f} MiB)", model_path, size_error ? 0.0 : static_cast<double>(file_bytes) / (1 << 20));
  auto model = load_model(p);
  apply_device_option(p, model);
  const auto& config = model.model->config();
  spdlog::info("loaded in {:.1f} s: {}, {} layers, context {}, vocabulary {}",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count(), config.architecture,
               config.n_layers, config.context_length, config.vocab_size);
  if (server.stop_requested()) {
    spdlog::info("stopped before serving");
    return 0;
  }

  const http::ChatPromptRenderer chat(model);
  scheduler::InferenceEngine engine(model, scheduler_settings);
  http::EngineClient engine_client(engine);
  const auto stats = engine.stats();
  metrics.set_cache_config(scheduler_settings.block_size, stats.kv_blocks_total);
  const http::ServingContext context{model, chat, engine_client, metrics, model_name,
                                     stats.kv_capacity_tokens};
  server::GrpcFrontend grpc(model, engine, metrics, model_name, key, options.host, grpc_port);
  spdlog::info("gRPC on {}:{}", options.host, grpc.port());
  router.set_ready(context);
  spdlog::info("ready: serving '{}' with {} KV blocks of {} tokens", model_name, stats.kv_blocks_total,
               scheduler_settings.block_size);
  server.wait();
  // HTTP has drained within its grace period; gRPC calls still running end now.
  grpc.shutdown(std::chrono::milliseconds(0));
  spdlog::info("drained; exiting");
  return 0;
}

}  // namespace strata::cli
