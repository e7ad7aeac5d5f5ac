// The prompt of a whole OpenAI `messages` list (with optional `tools`) in the model's own chat
// template; runtime::render_chat_prompt covers only the CLI's single user turn.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat/chat_template.h"
#include "engine/runtime/loaded_model.h"
#include "server/http/request_fields.h"

namespace strata::http {

class ChatPromptRenderer {
 public:
  // Parses the model's template once. Throws chat::ChatTemplateError if it does not parse;
  // a model without a template gets a renderer that refuses every request. `model` must
  // outlive the renderer.
  explicit ChatPromptRenderer(const runtime::LoadedModel& model);

  // The token ids of the request's `messages`, `tools` and `add_generation_prompt` (default
  // true) in the template, its special tokens parsed. Throws ApiError 400 for malformed
  // messages or tools, content parts other than text, a model without a chat template, and
  // templates that refuse the conversation (raise_exception). Message content given as text
  // parts is joined with newlines.
  std::vector<int32_t> prompt_tokens(const RequestFields& fields) const;

 private:
  std::string render(const nlohmann::ordered_json* messages, const nlohmann::ordered_json* tools,
                     bool add_generation_prompt) const;

  const runtime::LoadedModel& model_;
  std::unique_ptr<chat::ChatTemplate> template_;  // null when the model has none
  std::string bos_token_;
  std::string eos_token_;
};

}  // namespace strata::http
