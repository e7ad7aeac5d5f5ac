#include "eval/memory_speed_task.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include "scheduler/scheduler.h"

namespace strata::eval {
namespace {

MemorySpeedPoint measure(const EvalTarget& target, std::span<const int32_t> prompt, int32_t max_num_batched_tokens) {
  const int32_t generated = kTimedDecodeSteps + 1;  // the first comes with the prefill
  scheduler::SchedulerConfig config;
  config.max_num_seqs = 1;
  config.max_num_batched_tokens = max_num_batched_tokens;
  config.enable_prefix_cache = false;  // every run computes its whole prompt
  config.num_kv_blocks = static_cast<int32_t>((prompt.size() + generated) / static_cast<size_t>(config.block_size) + 1);
  scheduler::Scheduler s(target.model, config);

  scheduler::GenerationParams params;
  params.sampling.temperature = 0.0f;
  params.max_tokens = generated;
  params.ignore_eos = true;
  int32_t tokens_out = 0;
  std::string error;
  const auto submitted = s.submit({{prompt.begin(), prompt.end()}, params}, [&](const scheduler::SequenceEvent& e) {
    if (e.finish == scheduler::FinishReason::kError) error = e.error;
    tokens_out += static_cast<int32_t>(e.tokens.size());
  });
  if (submitted.status != scheduler::SubmitStatus::kAccepted) throw std::runtime_error("memory/speed prompt refused: " + submitted.reason);

  MemorySpeedPoint point;
  std::vector<double> decode_ms;
  while (s.has_work()) {
    const bool prefilled = tokens_out > 0;
    const auto start = std::chrono::steady_clock::now();
    s.step();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!error.empty()) throw std::runtime_error("memory/speed run failed (" + target.name + "): " + error);
    if (prefilled) {
      decode_ms.push_back(seconds * 1e3);
    } else {
      point.prefill_seconds += seconds;
    }
  }
  if (decode_ms.empty()) throw std::runtime_error("memory/speed run made no decode step");
  std::nth_element(decode_ms.begin(), decode_ms.begin() + static_cast<std::ptrdiff_t>(decode_ms.size() / 2), decode_ms.end());
  point.decode_step_ms_median = decode_ms[decode_ms.size() / 2];
  const auto stats = s.stats();
  point.peak_kv_blocks = stats.kv_blocks_peak;
  point.peak_kv_bytes = stats.kv_bytes_peak;
  return point;
}

}  // namespace

int64_t kv_bytes_per_token(const runtime::LoadedModel& m) {
  int64_t bytes = 0;
  for (const auto& group : m.model->attention_plan().groups) bytes += group.bytes_per_token;
  return bytes;
}

std::vector<MemorySpeedContext> run_memory_speed(const EvalTarget& reference, const EvalTarget& candidate,
                                                 std::span<const int32_t> text, std::span<const int32_t> contexts,
                                                 int32_t max_num_batched_tokens) {
  std::vector<MemorySpeedContext> results;
  for (int32_t context : contexts) {
    const int32_t prompt_tokens = context - kTimedDecodeSteps - 1;
    if (prompt_tokens < 1 || static_cast<size_t>(prompt_tokens) > text.size()) {
      throw std::invalid_argument("memory/speed context " + std::to_string(context) + " needs " + std::to_string(prompt_tokens) +
                                  " prompt tokens, the text has " + std::to_string(text.size()));
    }
    const auto prompt = text.first(static_cast<size_t>(prompt_tokens));
    MemorySpeedContext r;
    r.context = context;
    r.dense_kv_bytes = int64_t{context - 1} * kv_bytes_per_token(reference.model);
    r.reference = measure(reference, prompt, max_num_batched_tokens);
    r.candidate = measure(candidate, prompt, max_num_batched_tokens);
    results.push_back(r);
    spdlog::info("memory/speed: {} tokens done", context);
  }
  return results;
}

}  // namespace strata::eval
