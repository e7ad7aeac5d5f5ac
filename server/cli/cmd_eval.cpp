// strata eval: the quality harness (eval/harness.h) from the command line.
#include <spdlog/spdlog.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "eval/harness.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"
#include "server/cli/device_option.h"
#include "server/cli/model_option.h"

namespace strata::cli {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) items.push_back(item);
  return items;
}

template <typename T>
std::vector<T> parse_numbers(const std::string& text, const char* flag, const char* example) {
  std::vector<T> values;
  for (const auto& item : split_list(text)) {
    std::istringstream in(item);
    T v{};
    if (item.empty() || !(in >> v) || !in.eof()) {
      throw UsageError("invalid value '" + text + "' for " + flag + ": expected a list like " + example);
    }
    values.push_back(v);
  }
  if (values.empty()) throw UsageError(std::string("empty list for ") + flag);
  return values;
}

void select_tasks(const std::string& text, eval::EvalOptions& o) {
  o.passkey = o.teacher_forced = o.memory_speed = false;
  for (const auto& task : split_list(text)) {
    if (task == "passkey") {
      o.passkey = true;
    } else if (task == "forced") {
      o.teacher_forced = true;
    } else if (task == "memory") {
      o.memory_speed = true;
    } else {
      throw UsageError("unknown task '" + task + "' in --tasks (known: passkey, forced, memory)");
    }
  }
}

}  // namespace

int run_eval(const Args& args) {
  ArgParser p("eval");
  p.option("--model", "PATH", "GGUF model file", true);
  p.option("--threads", "N", "CPU threads, 0 = all (default 0)");
  p.option("--json", "FILE", "also write the report as JSON");
  p.option("--contexts", "LIST", "context lengths in tokens, each at most the model's (default 1024,2048,4096,8192)");
  p.option("--depths", "LIST", "passkey needle depths in [0, 1] (default 0,0.25,0.5,0.75,1)");
  p.option("--samples", "N", "passkey keys per (context, depth) cell (default 20)");
  p.option("--seed", "S", "seed of the passkey keys (default 0)");
  p.option("--text", "FILE", "text of the teacher-forced task and the memory prompts (default " + eval::default_text_path() + ")");
  p.option("--tasks", "LIST", "any of passkey, forced, memory (default all three)");
  p.option("--max-num-batched-tokens", "N", "the memory task's prefill chunk (default 2048)");
  add_attention_option(p);
  add_device_option(p);
  if (!p.parse(args)) return 0;
  eval::EvalOptions options;
  if (p.has("--contexts")) options.contexts = parse_numbers<int32_t>(p.get_string("--contexts"), "--contexts", "1024,2048");
  if (p.has("--depths")) options.depths = parse_numbers<double>(p.get_string("--depths"), "--depths", "0,0.5,1");
  options.samples = static_cast<int32_t>(p.get_int("--samples", options.samples, 1, 100000));
  options.seed = p.get_optional_uint("--seed").value_or(options.seed);
  options.text_path = p.get_string("--text", options.text_path);
  if (p.has("--tasks")) select_tasks(p.get_string("--tasks"), options);
  options.max_num_batched_tokens =
      static_cast<int32_t>(p.get_int("--max-num-batched-tokens", options.max_num_batched_tokens, 1, 1 << 20));

  // The reference is the model's own attention; the candidate the same file under --attention
  // (without one, the reference against itself, which must agree exactly). The weights stay in
  // the mapped file where their type allows, so the second load shares them.
  auto full = runtime::LoadedModel::load(p.get_string("--model"), threads_option(p));
  if (auto problem = eval::check_options(full, options); !problem.empty()) throw UsageError(problem);
  std::optional<runtime::LoadedModel> layout;
  if (p.has("--attention")) layout = load_model(p);
  const std::string device = apply_device_option(p, full);
  if (layout) apply_device_option(p, *layout);
  const eval::EvalTarget reference{"full", full};
  const eval::EvalTarget candidate{layout ? p.get_string("--attention") : "full", layout ? *layout : full};
  const auto report = eval::run_eval(device, reference, candidate, options);
  if (p.has("--json")) std::ofstream(p.get_string("--json")) << report.dump(2) << "\n";
  return 0;
}

}  // namespace strata::cli
