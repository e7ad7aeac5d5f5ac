#include "eval/harness.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/runtime/generate.h"
#include "eval/memory_speed_task.h"
#include "eval/passkey_task.h"
#include "eval/report.h"
#include "eval/teacher_forced_task.h"

namespace strata::eval {
namespace {

std::vector<int32_t> text_tokens(const runtime::LoadedModel& m, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the text " + path);
  std::stringstream text;
  text << in.rdbuf();
  // As a completion prompt: BOS where the model wants one, special-token text taken literally.
  return runtime::tokenize_prompt(m, text.str(), /*parse_special=*/false);
}

}  // namespace

std::string default_text_path() { return STRATA_EVAL_DEFAULT_TEXT; }

std::string check_options(const runtime::LoadedModel& m, const EvalOptions& o) {
  const int32_t longest = m.model->config().context_length;
  if (o.contexts.empty()) return "no context lengths to evaluate";
  for (int32_t c : o.contexts) {
    if (c < 64 || c > longest) return "context " + std::to_string(c) + " is outside [64, " + std::to_string(longest) + "] (the model's context length)";
  }
  if (o.passkey && (o.depths.empty() || o.samples < 1)) return "passkey needs depths and at least one sample";
  for (double d : o.depths) {
    if (d < 0.0 || d > 1.0) return "depth " + (std::ostringstream() << d).str() + " is outside [0, 1]";
  }
  return {};
}

nlohmann::ordered_json run_eval(const std::string& device, const EvalTarget& reference, const EvalTarget& candidate,
                                const EvalOptions& options) {
  const runtime::LoadedModel& m = reference.model;
  if (auto problem = check_options(m, options); !problem.empty()) throw std::invalid_argument(problem);
  nlohmann::ordered_json out = {{"model", m.model->config().name},
                                {"device", device},
                                {"reference", reference.name},
                                {"candidate", candidate.name},
                                {"contexts", options.contexts}};
  if (options.passkey) {
    PasskeyOptions passkey{options.contexts, options.depths, options.samples, options.seed};
    const auto result = run_passkey(reference, candidate, passkey);
    print_passkey(result, reference.name, candidate.name);
    out["passkey"] = passkey_json(result, options.seed);
  }
  if (options.teacher_forced || options.memory_speed) {
    const auto text = text_tokens(m, options.text_path);
    spdlog::info("text {}: {} tokens", options.text_path, text.size());
    if (options.teacher_forced) {
      const auto result = run_teacher_forced(reference, candidate, m.model->config().vocab_size, text, options.contexts);
      print_teacher_forced(result, reference.name, candidate.name);
      out["teacher_forced"] = teacher_forced_json(result, options.text_path, text.size());
    }
    if (options.memory_speed) {
      const auto result = run_memory_speed(reference, candidate, text, options.contexts, options.max_num_batched_tokens);
      print_memory_speed(result, reference.name, candidate.name);
      out["memory_speed"] = memory_speed_json(result, kv_bytes_per_token(reference.model), options.max_num_batched_tokens);
    }
  }
  return out;
}

}  // namespace strata::eval
