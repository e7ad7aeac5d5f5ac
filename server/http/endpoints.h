// The endpoints behind the router, each from a parsed JSON body. They throw ApiError for
// anything the client got wrong.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "server/http/generation_job.h"
#include "server/http/http_message.h"
#include "server/http/serving_context.h"

namespace strata::http {

// POST /v1/completions: `prompt` is a string or a list of token ids.
std::unique_ptr<GenerationJob> completion_job(const ServingContext& context, const nlohmann::ordered_json& body);
// POST /v1/chat/completions: `messages` (and `tools`) rendered with the model's chat template.
std::unique_ptr<GenerationJob> chat_completion_job(const ServingContext& context, const nlohmann::ordered_json& body);
// POST /tokenize (vLLM's shape): {"prompt": text} or {"messages": [...]} -> count, tokens.
HttpResponse tokenize(const ServingContext& context, const nlohmann::ordered_json& body);
// POST /detokenize: {"tokens": [ids]} -> {"prompt": text}.
HttpResponse detokenize(const ServingContext& context, const nlohmann::ordered_json& body);

}  // namespace strata::http
