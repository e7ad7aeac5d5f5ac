// Settings of the continuous-batching scheduler; the server exposes each as a flag.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace strata::scheduler {

struct SchedulerConfig {
  int32_t max_num_batched_tokens = 2048;  // --max-num-batched-tokens: tokens per step, prefill chunks included
  int32_t max_num_seqs = 64;              // --max-num-seqs: sequences in one step
  int32_t max_waiting = 1024;             // --max-waiting: queued requests before submit answers "busy"
  int32_t block_size = 16;                // --block-size: tokens per KV block
  std::optional<int32_t> num_kv_blocks;   // --num-kv-blocks: overrides kv_memory_bytes
  int64_t kv_memory_bytes = int64_t{1} << 30;  // KV bytes of all layers (CPU: host memory)
  bool enable_prefix_cache = true;        // --no-prefix-cache turns it off

  std::string validate() const;  // empty when valid, else the first bad field
};

}  // namespace strata::scheduler
