// POST /v1/chat/completions.
#include "server/http/endpoints.h"

namespace strata::http {

std::unique_ptr<GenerationJob> chat_completion_job(const ServingContext& context, const nlohmann::ordered_json& body) {
  const RequestFields fields(body);
  GenerationOptions options =
      parse_generation_options(fields, Endpoint::kChatCompletions, context.model.tokenizer->vocab_size());
  std::vector<int32_t> prompt = context.chat.prompt_tokens(fields);
  fit_to_context(options, Endpoint::kChatCompletions, static_cast<int32_t>(prompt.size()),
                 context.model.model->config().context_length, context.kv_capacity_tokens, "messages");
  return std::make_unique<GenerationJob>(chat_format(*context.model.tokenizer),
                                         scheduler::Request{std::move(prompt), options.params}, options,
                                         context.model_name, context.metrics);
}

}  // namespace strata::http
