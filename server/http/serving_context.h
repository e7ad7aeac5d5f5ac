// What the endpoints need once the model is loaded and the engine runs.
#pragma once

#include <cstdint>
#include <string>

#include "engine/runtime/loaded_model.h"
#include "server/http/chat_prompt.h"
#include "server/http/engine_client.h"
#include "server/metrics/server_metrics.h"

namespace strata::http {

struct ServingContext {
  runtime::LoadedModel& model;
  const ChatPromptRenderer& chat;
  EngineClient& engine;
  metrics::ServerMetrics& metrics;
  std::string model_name;      // what /v1/models lists and responses carry
  int64_t kv_capacity_tokens;  // the most tokens one sequence can hold in the KV cache
};

}  // namespace strata::http
