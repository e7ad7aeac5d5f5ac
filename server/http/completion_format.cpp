// /v1/completions: choices carry `text`; logprobs are parallel arrays (tokens, token_logprobs,
// top_logprobs as {token: logprob} maps, text_offset).
#include <cmath>

#include "server/http/response_format.h"

namespace strata::http {
namespace {

class CompletionFormat : public ResponseFormat {
 public:
  explicit CompletionFormat(const tokenizer::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  const char* id_prefix() const override { return "cmpl-"; }
  const char* object(bool) const override { return "text_completion"; }
  std::vector<nlohmann::ordered_json> opening_choices(int32_t) const override { return {}; }

  nlohmann::ordered_json chunk_choice(int32_t index, const std::string& text, nlohmann::ordered_json logprobs,
                                      nlohmann::ordered_json finish_reason) const override {
    return {{"index", index}, {"text", text}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish_reason)}};
  }

  nlohmann::ordered_json final_choice(int32_t index, const std::string& text, nlohmann::ordered_json logprobs,
                                      nlohmann::ordered_json finish_reason) const override {
    return chunk_choice(index, text, std::move(logprobs), std::move(finish_reason));
  }

  nlohmann::ordered_json logprobs(std::span<const scheduler::StepLogprobs> steps, size_t& text_offset) const override {
    auto tokens = nlohmann::ordered_json::array(), token_logprobs = nlohmann::ordered_json::array();
    auto top_logprobs = nlohmann::ordered_json::array(), offsets = nlohmann::ordered_json::array();
    for (const auto& step : steps) {
      tokens.push_back(tokenizer_.token_to_piece(step.chosen.token));
      token_logprobs.push_back(json_logprob(step.chosen.logprob));
      auto top = nlohmann::ordered_json::object();
      for (const auto& alt : step.top) top[tokenizer_.token_to_piece(alt.token)] = json_logprob(alt.logprob);
      top_logprobs.push_back(std::move(top));
      offsets.push_back(text_offset);
      text_offset += tokenizer_.decode_piece(step.chosen.token, text_offset == 0).size();
    }
    return {{"tokens", std::move(tokens)},
            {"token_logprobs", std::move(token_logprobs)},
            {"top_logprobs", std::move(top_logprobs)},
            {"text_offset", std::move(offsets)}};
  }

 private:
  const tokenizer::Tokenizer& tokenizer_;
};

}  // namespace

double json_logprob(float logprob) { return std::isfinite(logprob) ? static_cast<double>(logprob) : -9999.0; }

std::unique_ptr<ResponseFormat> completion_format(const tokenizer::Tokenizer& tokenizer) {
  return std::make_unique<CompletionFormat>(tokenizer);
}

}  // namespace strata::http
