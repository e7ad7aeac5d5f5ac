// strata bench: prompt processing (pp) and token generation (tg) speed of one sequence.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/runtime/loaded_model.h"
#include "engine/runtime/solo_sequence.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"

namespace strata::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int run_bench(const Args& args) {
  ArgParser p("bench");
  p.option("--model", "PATH", "GGUF model file", true);
  p.option("--prompt-tokens", "N", "tokens in the prompt (default 128)");
  p.option("--gen-tokens", "N", "tokens generated after it (default 64)");
  p.option("--repetitions", "R", "runs of each; the best is reported (default 3)");
  p.option("--threads", "N", "CPU threads, 0 = all (default 0)");
  p.option("--json", "FILE", "also write the results as JSON");
  p.flag("--help", "show this help");
  p.parse(args);
  if (p.has("--help")) {
    std::fputs(p.usage().c_str(), stdout);
    return 0;
  }
  const auto n_prompt = static_cast<int32_t>(p.get_int("--prompt-tokens", 128, 1, 1 << 16));
  const auto n_gen = static_cast<int32_t>(p.get_int("--gen-tokens", 64, 1, 1 << 16));
  const auto reps = static_cast<int>(p.get_int("--repetitions", 3, 1, 100));

  auto m = runtime::LoadedModel::load(p.get_string("--model"), threads_option(p));
  const auto& config = m.model->config();
  if (n_prompt + n_gen > config.context_length) throw UsageError("prompt + generated tokens exceed the context length");

  // Fixed pseudo-random prompt so runs are comparable; generation feeds back the argmax.
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> any_token(0, config.vocab_size - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
  for (auto& t : prompt) t = any_token(rng);

  double best_pp = 0.0, best_tg = 0.0;
  for (int r = 0; r < reps; ++r) {
    runtime::SoloSequence sequence(*m.model, n_prompt + n_gen);
    auto start = std::chrono::steady_clock::now();
    auto logits = sequence.feed(prompt);
    best_pp = std::max(best_pp, n_prompt / seconds_since(start));
    start = std::chrono::steady_clock::now();
    for (int32_t i = 0; i < n_gen; ++i) {
      int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      logits = sequence.feed(std::span<const int32_t>(&next, 1));
    }
    best_tg = std::max(best_tg, n_gen / seconds_since(start));
  }

  std::printf("| model | threads | test | tokens/s |\n|---|---:|---|---:|\n");
  std::printf("| %s | %d | pp%d | %.1f |\n", config.name.c_str(), m.model->n_threads(), n_prompt, best_pp);
  std::printf("| %s | %d | tg%d | %.1f |\n", config.name.c_str(), m.model->n_threads(), n_gen, best_tg);
  if (p.has("--json")) {
    nlohmann::ordered_json out = {{"engine", "strata"},        {"model", p.get_string("--model")},
                                  {"threads", m.model->n_threads()}, {"prompt_tokens", n_prompt},
                                  {"gen_tokens", n_gen},       {"repetitions", reps},
                                  {"pp_tokens_per_s", best_pp}, {"tg_tokens_per_s", best_tg}};
    std::ofstream(p.get_string("--json")) << out.dump(2) << "\n";
  }
  return 0;
}

}  // namespace strata::cli
