// /v1/chat/completions: choices carry a `message` (streamed: a `delta`, the first one with the
// assistant role); logprobs are {"content": [{token, logprob, bytes, top_logprobs}]}.
#include "server/http/response_format.h"

namespace strata::http {
namespace {

class ChatFormat : public ResponseFormat {
 public:
  explicit ChatFormat(const tokenizer::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  const char* id_prefix() const override { return "chatcmpl-"; }
  const char* object(bool streaming) const override { return streaming ? "chat.completion.chunk" : "chat.completion"; }

  std::vector<nlohmann::ordered_json> opening_choices(int32_t n) const override {
    std::vector<nlohmann::ordered_json> choices;
    for (int32_t i = 0; i < n; ++i) {
      choices.push_back({{"index", i},
                         {"delta", {{"role", "assistant"}, {"content", ""}}},
                         {"logprobs", nullptr},
                         {"finish_reason", nullptr}});
    }
    return choices;
  }

  nlohmann::ordered_json chunk_choice(int32_t index, const std::string& text, nlohmann::ordered_json logprobs,
                                      nlohmann::ordered_json finish_reason) const override {
    auto delta = nlohmann::ordered_json::object();
    if (!text.empty()) delta["content"] = text;
    return {{"index", index}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
            {"finish_reason", std::move(finish_reason)}};
  }

  nlohmann::ordered_json final_choice(int32_t index, const std::string& text, nlohmann::ordered_json logprobs,
                                      nlohmann::ordered_json finish_reason) const override {
    return {{"index", index},
            {"message", {{"role", "assistant"}, {"content", text}}},
            {"logprobs", std::move(logprobs)},
            {"finish_reason", std::move(finish_reason)}};
  }

  nlohmann::ordered_json logprobs(std::span<const scheduler::StepLogprobs> steps, size_t&) const override {
    auto content = nlohmann::ordered_json::array();
    for (const auto& step : steps) {
      auto entry = token_entry(step.chosen);
      auto top = nlohmann::ordered_json::array();
      for (const auto& alt : step.top) top.push_back(token_entry(alt));
      entry["top_logprobs"] = std::move(top);
      content.push_back(std::move(entry));
    }
    return {{"content", std::move(content)}};
  }

 private:
  // `token` may hold part of a UTF-8 character (written with U+FFFD); `bytes` is exact.
  nlohmann::ordered_json token_entry(const scheduler::TokenLogprob& t) const {
    const std::string piece = tokenizer_.token_to_piece(t.token);
    auto bytes = nlohmann::ordered_json::array();
    for (unsigned char c : piece) bytes.push_back(c);
    return {{"token", piece}, {"logprob", json_logprob(t.logprob)}, {"bytes", std::move(bytes)}};
  }

  const tokenizer::Tokenizer& tokenizer_;
};

}  // namespace

std::unique_ptr<ResponseFormat> chat_format(const tokenizer::Tokenizer& tokenizer) {
  return std::make_unique<ChatFormat>(tokenizer);
}

}  // namespace strata::http
