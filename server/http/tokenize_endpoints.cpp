// POST /tokenize and /detokenize, in vLLM's shapes.
#include "engine/runtime/generate.h"
#include "server/http/api_error.h"
#include "server/http/endpoints.h"
#include "server/http/json_text.h"
#include "server/http/token_ids.h"

namespace strata::http {

HttpResponse tokenize(const ServingContext& context, const nlohmann::ordered_json& body) {
  const RequestFields fields(body);
  std::vector<int32_t> ids;
  if (fields.find("messages")) {
    ids = context.chat.prompt_tokens(fields);  // the ids a chat completion of them would get
  } else if (auto prompt = fields.string("prompt")) {
    ids = fields.boolean("add_special_tokens").value_or(true)
              ? runtime::tokenize_prompt(context.model, *prompt, /*parse_special=*/true)
              : context.model.tokenizer->encode(*prompt, /*add_special=*/false, /*parse_special=*/true);
  } else {
    throw invalid_field("prompt", "'prompt' (a string) or 'messages' is required");
  }
  return json_response({{"count", ids.size()},
                        {"max_model_len", context.model.model->config().context_length},
                        {"tokens", ids}});
}

HttpResponse detokenize(const ServingContext& context, const nlohmann::ordered_json& body) {
  const RequestFields fields(body);
  const auto* tokens = fields.array("tokens");
  if (!tokens) throw invalid_field("tokens", "'tokens' is required");
  const auto ids = token_ids(*tokens, "tokens", context.model.tokenizer->vocab_size());
  return json_response({{"prompt", context.model.tokenizer->decode(ids)}});
}

}  // namespace strata::http
