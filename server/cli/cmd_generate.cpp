#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "engine/runtime/generate.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"
#include "server/cli/model_option.h"

namespace strata::cli {

int run_generate(const Args& args) {
  ArgParser p("generate");
  p.option("--model", "PATH", "GGUF model file", true);
  p.option("--prompt", "TEXT", "the prompt", true);
  p.flag("--chat", "wrap the prompt as one user turn in the model's chat template");
  p.option("--system", "TEXT", "system message (with --chat)");
  p.option("--max-tokens", "N", "new tokens at most (default 256)");
  p.option("--temperature", "T", "0 = greedy (default 0.8)");
  p.option("--top-p", "P", "nucleus sampling threshold in (0, 1] (default 1)");
  p.option("--top-k", "K", "keep the K most likely tokens, 0 = all (default 0)");
  p.option("--min-p", "P", "drop tokens below P x the top probability (default 0)");
  p.option("--repetition-penalty", "R", "penalty on tokens of prompt and output, 1 = off (default 1)");
  p.option("--presence-penalty", "P", "in [-2, 2] (default 0)");
  p.option("--frequency-penalty", "F", "in [-2, 2] (default 0)");
  p.option("--seed", "S", "seed of the sampler (default: random)");
  p.option("--threads", "N", "CPU threads, 0 = all (default 0)");
  add_attention_option(p);
  if (!p.parse(args)) return 0;
  if (p.has("--system") && !p.has("--chat")) throw UsageError("--system needs --chat");

  runtime::GenerationRequest request;
  request.max_tokens = static_cast<int32_t>(p.get_int("--max-tokens", 256, 1, 1 << 20));
  auto& s = request.sampling;
  s.temperature = static_cast<float>(p.get_double("--temperature", 0.8, 0.0, 100.0));
  s.top_p = static_cast<float>(p.get_double("--top-p", 1.0, 0.0, 1.0));
  s.top_k = static_cast<int32_t>(p.get_int("--top-k", 0, 0, 1 << 24));
  s.min_p = static_cast<float>(p.get_double("--min-p", 0.0, 0.0, 1.0));
  s.repetition_penalty = static_cast<float>(p.get_double("--repetition-penalty", 1.0, 0.0, 100.0));
  s.presence_penalty = static_cast<float>(p.get_double("--presence-penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = static_cast<float>(p.get_double("--frequency-penalty", 0.0, -2.0, 2.0));
  s.seed = p.get_optional_uint("--seed");
  if (auto problem = s.validate(); !problem.empty()) throw UsageError(problem);

  auto m = load_model(p);
  const bool chat = p.has("--chat");
  const std::string text = chat ? runtime::render_chat_prompt(m, p.get_string("--system"), p.get_string("--prompt"))
                                : p.get_string("--prompt");
  // Chat prompts carry the template's special tokens; a plain prompt is taken literally.
  request.prompt = runtime::tokenize_prompt(m, text, /*parse_special=*/chat);
  if (request.prompt.empty()) throw UsageError("the prompt is empty and the model adds no BOS token");
  spdlog::info("prompt: {} tokens", request.prompt.size());

  auto result = runtime::generate(m, request, [](std::string_view delta) {
    std::fwrite(delta.data(), 1, delta.size(), stdout);
    std::fflush(stdout);
  });
  std::fputc('\n', stdout);
  spdlog::info("generated {} tokens, finish reason: {}", result.tokens.size(), result.finish_reason);
  return 0;
}

}  // namespace strata::cli
