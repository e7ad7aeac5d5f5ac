// `strata eval`: the quality harness of the per-layer attention work. It compares a candidate
// attention configuration of a model with the reference (`full`), both given as runner
// factories of the same loaded model, on passkey retrieval, teacher-forced agreement and
// memory/speed as the context grows (docs/attention.md, "Quality harness").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/runtime/loaded_model.h"
#include "eval/eval_target.h"
#include "scheduler/scheduler_config.h"

namespace strata::eval {

// The public-domain book shipped beside the harness (eval/texts/README.md).
std::string default_text_path();

struct EvalOptions {
  std::vector<int32_t> contexts = {1024, 2048, 4096, 8192};  // tokens; each at most the model's context
  std::vector<double> depths = {0.0, 0.25, 0.5, 0.75, 1.0};   // passkey needle depths
  int32_t samples = 20;                                       // passkey keys per cell
  uint64_t seed = 0;                                          // of the passkey keys
  std::string text_path = default_text_path();                // teacher-forced text and memory prompts
  bool passkey = true, teacher_forced = true, memory_speed = true;  // the tasks to run
  // The memory task's prefill chunk (its scheduler's max_num_batched_tokens): a window group's
  // prefill holds sinks + window + one chunk.
  int32_t max_num_batched_tokens = scheduler::SchedulerConfig{}.max_num_batched_tokens;
};

// Empty when `m` can be evaluated with `options`, else the first problem (a context outside
// [64, the model's context length], a depth outside [0, 1], passkey without depths or samples).
std::string check_options(const runtime::LoadedModel& m, const EvalOptions& options);

// Runs the chosen tasks (reference and candidate each), prints each task's table on stdout as
// it completes and returns the whole report. Both targets are loaded from the same file (the
// reference's tokenizer serves both); `device` describes where their runners run. Throws
// std::invalid_argument where check_options finds a problem.
nlohmann::ordered_json run_eval(const std::string& device, const EvalTarget& reference, const EvalTarget& candidate,
                                const EvalOptions& options);

}  // namespace strata::eval
