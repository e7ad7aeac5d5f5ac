// Memory and speed as the context grows: one sequence per context length through the scheduler
// on each target's runners, its prompt filling the context but for a few generated tokens.
// Peak KV bytes come from the scheduler's KV accounting (peak blocks x block size x the model's
// KV bytes per token), decode time is the median of the steps after the prompt.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/runtime/loaded_model.h"
#include "eval/eval_target.h"

namespace strata::eval {

// Decode steps timed at each context length (their median is reported).
inline constexpr int32_t kTimedDecodeSteps = 8;

struct MemorySpeedPoint {
  int32_t peak_kv_blocks = 0;
  int64_t peak_kv_bytes = 0;
  double prefill_seconds = 0.0;
  double decode_step_ms_median = 0.0;
};

struct MemorySpeedContext {
  int32_t context = 0;
  int64_t dense_kv_bytes = 0;  // analytical: (context - 1) cached tokens x KV bytes per token
  MemorySpeedPoint reference, candidate;
};

// KV bytes one token takes in every layer (the sum over the model's cache groups): what a dense
// cache holds per token.
int64_t kv_bytes_per_token(const runtime::LoadedModel& m);

// Peak KV bytes (every cache group's blocks at its own bytes) and decode step time of one
// sequence per context, reference and candidate; `text` supplies the prompts (tokens, at least
// the largest context), prefilled max_num_batched_tokens at a time. `dense_kv_bytes` is the
// reference's.
std::vector<MemorySpeedContext> run_memory_speed(const EvalTarget& reference, const EvalTarget& candidate,
                                                 std::span<const int32_t> text, std::span<const int32_t> contexts,
                                                 int32_t max_num_batched_tokens);

}  // namespace strata::eval
