#include "engine/runtime/generate.h"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "engine/chat/chat_template.h"
#include "engine/runtime/solo_sequence.h"

namespace strata::runtime {

GenerationResult generate(LoadedModel& m, const GenerationRequest& request,
                          const std::function<void(std::string_view)>& on_text) {
  if (request.prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  const int32_t context = m.model->config().context_length;
  if (static_cast<int64_t>(request.prompt.size()) >= context) {
    throw std::invalid_argument("the prompt has " + std::to_string(request.prompt.size()) +
                                " tokens; the context holds " + std::to_string(context));
  }
  const int32_t budget = std::min<int32_t>(request.max_tokens, context - static_cast<int32_t>(request.prompt.size()));
  SoloSequence sequence(m.make_runner, static_cast<int32_t>(request.prompt.size()) + budget,
                        m.model->attention_plan().group_kinds());
  sampling::Sampler sampler(request.sampling, request.prompt);
  tokenizer::IncrementalDetokenizer detok(*m.tokenizer);

  GenerationResult result;
  result.finish_reason = "length";
  std::vector<float> logits = sequence.feed(request.prompt);
  for (int32_t i = 0; i < budget; ++i) {
    const int32_t token = sampler.sample(logits);
    if (m.tokenizer->is_end_of_generation(token)) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(token);
    if (auto text = detok.push(token); !text.empty()) on_text(text);
    if (i + 1 < budget) logits = sequence.feed(std::span<const int32_t>(&token, 1));
  }
  if (auto rest = detok.flush(); !rest.empty()) on_text(rest);
  return result;
}

std::string render_chat_prompt(const LoadedModel& m, const std::string& system, const std::string& user) {
  if (m.chat_template.empty()) throw std::invalid_argument("the model file has no chat template (tokenizer.chat_template)");
  nlohmann::json messages = nlohmann::json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  messages.push_back({{"role", "user"}, {"content", user}});
  const auto& tok = *m.tokenizer;
  nlohmann::json context = {{"messages", messages},
                            {"add_generation_prompt", true},
                            {"bos_token", tok.bos_id() >= 0 ? tok.token_to_piece(tok.bos_id()) : ""},
                            {"eos_token", tok.eos_id() >= 0 ? tok.token_to_piece(tok.eos_id()) : ""}};
  return chat::ChatTemplate(m.chat_template).render(context);
}

std::vector<int32_t> tokenize_prompt(const LoadedModel& m, const std::string& text, bool parse_special) {
  std::vector<int32_t> ids = m.tokenizer->encode(text, /*add_special=*/true, parse_special);
  const int32_t bos = m.tokenizer->bos_id();
  if (ids.size() >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos) ids.erase(ids.begin());
  return ids;
}

}  // namespace strata::runtime
