// POST /v1/completions.
#include "engine/runtime/generate.h"
#include "server/http/api_error.h"
#include "server/http/endpoints.h"
#include "server/http/token_ids.h"

namespace strata::http {
namespace {

std::vector<int32_t> prompt_tokens(const ServingContext& context, const RequestFields& fields) {
  const auto* prompt = fields.find("prompt");
  if (!prompt) throw invalid_field("prompt", "'prompt' is required");
  std::vector<int32_t> ids;
  if (prompt->is_string()) {
    // Special-token text in a raw prompt becomes the special token, as in vLLM and llama.cpp's
    // server, so prompts formatted by the client by hand work.
    ids = runtime::tokenize_prompt(context.model, prompt->get<std::string>(), /*parse_special=*/true);
  } else if (prompt->is_array() && (prompt->empty() || (*prompt)[0].is_number())) {
    ids = token_ids(*prompt, "prompt", context.model.tokenizer->vocab_size());
  } else if (prompt->is_array()) {
    throw invalid_field("prompt", "batched prompts are not supported: send one prompt per request");
  } else {
    throw invalid_field("prompt", "'prompt' must be a string or an array of token ids, not " + json_type_name(*prompt));
  }
  if (ids.empty()) throw invalid_field("prompt", "the prompt has no tokens");
  return ids;
}

}  // namespace

std::unique_ptr<GenerationJob> completion_job(const ServingContext& context, const nlohmann::ordered_json& body) {
  const RequestFields fields(body);
  const int32_t vocab = context.model.tokenizer->vocab_size();
  GenerationOptions options = parse_generation_options(fields, Endpoint::kCompletions, vocab);
  std::vector<int32_t> prompt = prompt_tokens(context, fields);
  fit_to_context(options, Endpoint::kCompletions, static_cast<int32_t>(prompt.size()),
                 context.model.model->config().context_length, context.kv_capacity_tokens, "prompt");
  return std::make_unique<GenerationJob>(completion_format(*context.model.tokenizer),
                                         scheduler::Request{std::move(prompt), options.params}, options,
                                         context.model_name, context.metrics);
}

}  // namespace strata::http
