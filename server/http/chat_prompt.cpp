#include "server/http/chat_prompt.h"

#include "engine/runtime/generate.h"
#include "server/http/api_error.h"

namespace strata::http {
namespace {

nlohmann::ordered_json content_text(const nlohmann::ordered_json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array()) throw invalid_field("messages", "'" + where + "' must be a string, an array of parts or null");
  std::string text;
  for (const auto& part : content) {
    const bool text_part = part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string();
    if (!text_part) throw invalid_field("messages", "'" + where + "' parts must be {\"type\": \"text\", \"text\": ...}");
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

nlohmann::ordered_json normalized_messages(const nlohmann::ordered_json& messages) {
  if (messages.empty()) throw invalid_field("messages", "'messages' must not be empty");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw invalid_field("messages", "'" + where + "' must be an object, not " + json_type_name(m));
    if (!m.contains("role") || !m["role"].is_string()) throw invalid_field("messages", "'" + where + ".role' must be a string");
    nlohmann::ordered_json message = m;
    message["content"] = content_text(m.value("content", nlohmann::ordered_json()), i);
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace

ChatPromptRenderer::ChatPromptRenderer(const runtime::LoadedModel& model) : model_(model) {
  if (model.chat_template.empty()) return;
  template_ = std::make_unique<chat::ChatTemplate>(model.chat_template);
  const auto& tok = *model.tokenizer;
  bos_token_ = tok.bos_id() >= 0 ? tok.token_to_piece(tok.bos_id()) : "";
  eos_token_ = tok.eos_id() >= 0 ? tok.token_to_piece(tok.eos_id()) : "";
}

std::string ChatPromptRenderer::render(const nlohmann::ordered_json* messages, const nlohmann::ordered_json* tools,
                                       bool add_generation_prompt) const {
  if (!template_) throw ApiError(400, "the model file has no chat template; use /v1/completions");
  if (!messages) throw invalid_field("messages", "'messages' is required");
  nlohmann::ordered_json context = {{"messages", normalized_messages(*messages)},
                                    {"add_generation_prompt", add_generation_prompt},
                                    {"bos_token", bos_token_},
                                    {"eos_token", eos_token_}};
  if (tools) context["tools"] = *tools;
  try {
    return template_->render_ordered(context);
  } catch (const chat::ChatTemplateError& e) {
    throw invalid_field("messages", std::string("the chat template refused the messages: ") + e.what());
  }
}

std::vector<int32_t> ChatPromptRenderer::prompt_tokens(const RequestFields& fields) const {
  const std::string text =
      render(fields.array("messages"), fields.array("tools"), fields.boolean("add_generation_prompt").value_or(true));
  // The template's special tokens (<|im_start|>, ...) must become special tokens.
  std::vector<int32_t> ids = runtime::tokenize_prompt(model_, text, /*parse_special=*/true);
  if (ids.empty()) throw invalid_field("messages", "the rendered conversation has no tokens");
  return ids;
}

}  // namespace strata::http
