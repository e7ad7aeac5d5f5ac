#include "server/http/generation_options.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "server/http/api_error.h"

namespace strata::http {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
// Stop strings are matched against every new token of a request on the engine's thread, which
// all requests share; a bound keeps one request from slowing every other one down.
constexpr size_t kMaxStopStrings = 16;
constexpr int32_t kMaxLogprobs = 20;
constexpr int32_t kCompletionsDefaultMaxTokens = 16;

std::vector<std::string> read_stop(const RequestFields& fields) {
  const auto* stop = fields.find("stop");
  if (!stop) return {};
  std::vector<std::string> out;
  if (stop->is_string()) {
    out.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    for (const auto& s : *stop) {
      if (!s.is_string()) throw invalid_field("stop", "'stop' must be a string or an array of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    throw invalid_field("stop", "'stop' must be a string or an array of strings, not " + json_type_name(*stop));
  }
  if (out.size() > kMaxStopStrings) {
    throw invalid_field("stop", "'stop' may hold at most " + std::to_string(kMaxStopStrings) + " strings");
  }
  for (const auto& s : out) {
    if (s.empty()) throw invalid_field("stop", "'stop' strings must not be empty");
  }
  return out;
}

std::unordered_map<int32_t, float> read_logit_bias(const RequestFields& fields, int32_t vocab_size) {
  std::unordered_map<int32_t, float> bias;
  const auto* object = fields.object("logit_bias");
  if (!object) return bias;
  for (const auto& [key, value] : object->items()) {
    int32_t token = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), token);
    if (ec != std::errc() || end != key.data() + key.size() || token < 0 || token >= vocab_size) {
      throw invalid_field("logit_bias", "'logit_bias' keys must be token ids in [0, " + std::to_string(vocab_size) +
                                            "), got \"" + key + "\"");
    }
    if (!value.is_number() || !(value.get<double>() >= -100.0 && value.get<double>() <= 100.0)) {
      throw invalid_field("logit_bias", "'logit_bias' values must be numbers in [-100, 100], got " + value.dump());
    }
    bias[token] = value.get<float>();
  }
  return bias;
}

// -1 = no logprobs, else the number of alternatives per token.
int32_t read_logprobs(const RequestFields& fields, Endpoint endpoint) {
  if (endpoint == Endpoint::kCompletions) {
    return static_cast<int32_t>(fields.integer("logprobs", 0, kMaxLogprobs).value_or(-1));
  }
  const bool wanted = fields.boolean("logprobs").value_or(false);
  const auto top = fields.integer("top_logprobs", 0, kMaxLogprobs);
  if (top && !wanted) throw invalid_field("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  return wanted ? static_cast<int32_t>(top.value_or(0)) : -1;
}

}  // namespace

GenerationOptions parse_generation_options(const RequestFields& fields, Endpoint endpoint, int32_t vocab_size) {
  GenerationOptions o;
  auto& p = o.params;
  auto& s = p.sampling;

  o.max_tokens_field = "max_tokens";
  if (endpoint == Endpoint::kChatCompletions && fields.find("max_completion_tokens")) o.max_tokens_field = "max_completion_tokens";
  if (auto v = fields.integer(o.max_tokens_field, 1, kInt32Max)) o.max_tokens = static_cast<int32_t>(*v);

  s.temperature = static_cast<float>(fields.number("temperature", 0.0, 2.0).value_or(1.0));
  s.top_p = static_cast<float>(fields.number("top_p", 0.0, 1.0).value_or(1.0));
  if (s.top_p <= 0.0f) throw invalid_field("top_p", "'top_p' must be in (0, 1]");
  // vLLM's convention: -1 (like 0) keeps every token.
  s.top_k = static_cast<int32_t>(std::max<int64_t>(0, fields.integer("top_k", -1, kInt32Max).value_or(0)));
  s.min_p = static_cast<float>(fields.number("min_p", 0.0, 1.0).value_or(0.0));
  s.presence_penalty = static_cast<float>(fields.number("presence_penalty", -2.0, 2.0).value_or(0.0));
  s.frequency_penalty = static_cast<float>(fields.number("frequency_penalty", -2.0, 2.0).value_or(0.0));
  s.repetition_penalty = static_cast<float>(fields.number("repetition_penalty", 0.0, 2.0).value_or(1.0));
  if (s.repetition_penalty <= 0.0f) throw invalid_field("repetition_penalty", "'repetition_penalty' must be in (0, 2]");
  // Any 64-bit integer; negative seeds wrap, which still fixes the stream.
  if (auto seed = fields.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
  }
  s.logit_bias = read_logit_bias(fields, vocab_size);

  p.n = static_cast<int32_t>(fields.integer("n", 1, 128).value_or(1));
  p.stop = read_stop(fields);
  p.logprobs = read_logprobs(fields, endpoint);
  p.ignore_eos = fields.boolean("ignore_eos").value_or(false);
  p.min_tokens = static_cast<int32_t>(fields.integer("min_tokens", 0, kInt32Max).value_or(0));
  p.priority = static_cast<int32_t>(fields.integer("priority", kInt32Min, kInt32Max).value_or(0));
  fields.string("user");  // accepted for compatibility; only its type is checked

  o.stream = fields.boolean("stream").value_or(false);
  if (const auto* options = fields.object("stream_options")) {
    if (!o.stream) throw invalid_field("stream_options", "'stream_options' is only allowed with 'stream': true");
    o.include_usage = RequestFields(*options).boolean("include_usage").value_or(false);
  }
  return o;
}

void fit_to_context(GenerationOptions& o, Endpoint endpoint, int32_t prompt_tokens, int32_t context_length,
                    int64_t kv_capacity_tokens, const std::string& prompt_field) {
  const int64_t room = std::min<int64_t>(context_length, kv_capacity_tokens) - prompt_tokens;
  if (room < 1) {
    throw invalid_field(prompt_field, "the prompt has " + std::to_string(prompt_tokens) + " tokens; at most " +
                                          std::to_string(std::min<int64_t>(context_length, kv_capacity_tokens) - 1) +
                                          " fit with one token to generate (context " + std::to_string(context_length) +
                                          ")");
  }
  if (o.max_tokens) {
    if (static_cast<int64_t>(prompt_tokens) + *o.max_tokens > context_length) {
      throw invalid_field(o.max_tokens_field, "the prompt (" + std::to_string(prompt_tokens) + " tokens) plus '" +
                                                  o.max_tokens_field + "' (" + std::to_string(*o.max_tokens) +
                                                  ") exceeds the context length " + std::to_string(context_length));
    }
    o.params.max_tokens = *o.max_tokens;
  } else {
    const int64_t wanted = endpoint == Endpoint::kCompletions ? kCompletionsDefaultMaxTokens : room;
    o.params.max_tokens = static_cast<int32_t>(std::min(wanted, room));
  }
  if (o.params.min_tokens > o.params.max_tokens) {
    throw invalid_field("min_tokens", "'min_tokens' (" + std::to_string(o.params.min_tokens) + ") exceeds the " +
                                          std::to_string(o.params.max_tokens) + " tokens allowed to generate");
  }
  if (auto problem = o.params.validate(); !problem.empty()) throw ApiError(400, problem);
}

}  // namespace strata::http
