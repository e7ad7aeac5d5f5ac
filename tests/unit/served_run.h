// Greedy requests served by a Scheduler of their own, for tests that compare the served tokens
// with other runs, and the short prompts and small cache those tests serve them with. kvcache's
// invariants are checked after every step.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/runtime/loaded_model.h"
#include "scheduler/scheduler.h"
#include "tests/unit/sequence_runs.h"

namespace strata::test {

// Random prompts of 5, 20 and 33 tokens (seed 5).
inline std::vector<std::vector<int32_t>> short_prompts(int32_t vocab) {
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> prompts;
  for (size_t length : {5, 20, 33}) prompts.push_back(random_tokens(rng, length, vocab));
  return prompts;
}

// A cache of 24 blocks of block_size tokens, prompts computed in 16-token chunks.
inline scheduler::SchedulerConfig small_cache_config(int32_t block_size) {
  scheduler::SchedulerConfig config;
  config.block_size = block_size;
  config.num_kv_blocks = 24;
  config.max_num_batched_tokens = 16;
  return config;
}

struct ServedRun {
  std::vector<std::vector<int32_t>> tokens;  // per request
  std::vector<int32_t> blocks_used;          // after every step
  std::vector<int32_t> used_at_end;          // blocks or slots held per cache group once all are done
  scheduler::SchedulerStats stats;
};

// Every prompt as one greedy request of max_tokens tokens (end of text ignored), served to the end.
inline ServedRun serve_greedy(runtime::LoadedModel& m, const std::vector<std::vector<int32_t>>& prompts,
                              int32_t max_tokens, const scheduler::SchedulerConfig& config) {
  scheduler::Scheduler s(m, config);
  ServedRun run;
  run.tokens.resize(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    scheduler::GenerationParams params;
    params.sampling.temperature = 0.0f;
    params.max_tokens = max_tokens;
    params.ignore_eos = true;
    const auto result = s.submit({prompts[i], params}, [&run, i](const scheduler::SequenceEvent& e) {
      run.tokens[i].insert(run.tokens[i].end(), e.tokens.begin(), e.tokens.end());
    });
    EXPECT_EQ(result.status, scheduler::SubmitStatus::kAccepted) << result.reason;
  }
  while (s.has_work()) {
    s.step();
    s.kv_cache().check_invariants();
    run.blocks_used.push_back(s.stats().kv_blocks_used);
  }
  for (int g = 0; g < s.kv_cache().num_groups(); ++g) run.used_at_end.push_back(s.kv_cache().usage(g).used);
  run.stats = s.stats();
  return run;
}

}  // namespace strata::test
