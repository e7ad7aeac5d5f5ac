#include "server/cli/scheduler_options.h"

namespace strata::cli {

void add_scheduler_options(ArgParser& p) {
  p.option("--num-kv-blocks", "N", "KV blocks (overrides --kv-cache-mib)");
  p.option("--kv-cache-mib", "MIB", "KV-cache memory of all layers in MiB (default 1024)");
  p.option("--block-size", "N", "tokens per KV block (default 16)");
  p.option("--max-num-batched-tokens", "N", "tokens per step, prefill chunks included (default 2048)");
  p.option("--max-num-seqs", "N", "sequences per step (default 64)");
  p.option("--max-waiting", "N", "queued requests before new ones are refused as busy (default 1024)");
  p.flag("--no-prefix-cache", "do not reuse the KV blocks of earlier prompts");
}

scheduler::SchedulerConfig scheduler_config(const ArgParser& p) {
  scheduler::SchedulerConfig c;
  if (p.has("--num-kv-blocks")) c.num_kv_blocks = static_cast<int32_t>(p.get_int("--num-kv-blocks", 0, 1, 1 << 24));
  c.kv_memory_bytes = p.get_int("--kv-cache-mib", 1024, 1, 1 << 22) << 20;
  c.block_size = static_cast<int32_t>(p.get_int("--block-size", c.block_size, 1, 1024));
  c.max_num_batched_tokens = static_cast<int32_t>(p.get_int("--max-num-batched-tokens", c.max_num_batched_tokens, 1, 1 << 20));
  c.max_num_seqs = static_cast<int32_t>(p.get_int("--max-num-seqs", c.max_num_seqs, 1, 1 << 16));
  c.max_waiting = static_cast<int32_t>(p.get_int("--max-waiting", c.max_waiting, 0, 1 << 24));
  c.enable_prefix_cache = !p.has("--no-prefix-cache");
  if (auto problem = c.validate(); !problem.empty()) throw UsageError(problem);
  return c;
}

}  // namespace strata::cli
