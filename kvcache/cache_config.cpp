#include "kvcache/cache_config.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace strata::kvcache {

std::string_view to_string(CacheKind kind) {
  switch (kind) {
    case CacheKind::kPagedKv: return "paged_kv";
    case CacheKind::kWindowKv: return "window_kv";
    case CacheKind::kEvictingKv: return "evicting_kv";
    case CacheKind::kRecurrentState: return "recurrent_state";
  }
  return "unknown";
}

namespace {

[[noreturn]] void refuse(size_t group, const std::string& what) {
  throw std::invalid_argument("kvcache: cache group " + std::to_string(group) + ": " + what);
}

void validate_group(const CacheGroupSpec& spec, size_t group) {
  if (spec.kind == CacheKind::kRecurrentState) {
    if (spec.bytes_per_sequence <= 0) refuse(group, "recurrent_state needs bytes_per_sequence > 0");
    return;
  }
  if (spec.block_size <= 0) refuse(group, "block_size must be > 0");
  if (spec.bytes_per_token <= 0) refuse(group, std::string(to_string(spec.kind)) + " needs bytes_per_token > 0");
  if (spec.kind == CacheKind::kWindowKv && (spec.window_tokens <= 0 || spec.sink_tokens < 0)) {
    refuse(group, "window_kv needs window_tokens > 0 and sink_tokens >= 0");
  }
  if (spec.kind == CacheKind::kEvictingKv && spec.token_budget <= 0) {
    refuse(group, "evicting_kv needs token_budget > 0");
  }
}

void validate(const KvCacheConfig& config) {
  if (config.groups.empty()) throw std::invalid_argument("kvcache: no cache groups");
  for (size_t g = 0; g < config.groups.size(); ++g) {
    const CacheGroupSpec& spec = config.groups[g];
    validate_group(spec, g);
    if (!config.enable_prefix_cache) continue;
    if (spec.kind != CacheKind::kPagedKv) {
      refuse(g, "the prefix cache serves paged_kv groups only, and this one is " + std::string(to_string(spec.kind)) +
                    "; turn the prefix cache off for this model");
    }
    if (spec.block_size != config.groups[0].block_size) {
      refuse(g, "the prefix cache needs one block_size in all groups");
    }
  }
  if (config.max_step_tokens && *config.max_step_tokens <= 0) {
    throw std::invalid_argument("kvcache: max_step_tokens must be > 0");
  }
  if (config.num_blocks) {
    if (*config.num_blocks <= 0) throw std::invalid_argument("kvcache: num_blocks must be > 0");
    return;
  }
  if (config.memory_budget_bytes <= 0) throw std::invalid_argument("kvcache: memory_budget_bytes must be > 0");
  if (config.typical_sequence_tokens <= 0) throw std::invalid_argument("kvcache: typical_sequence_tokens must be > 0");
}

}  // namespace

int64_t resident_units(const CacheGroupSpec& spec, int64_t tokens) {
  const int64_t all_blocks = blocks_for_tokens(tokens, spec.block_size);
  switch (spec.kind) {
    case CacheKind::kPagedKv: return all_blocks;
    case CacheKind::kWindowKv: return window_step_units(spec, tokens, 1);
    case CacheKind::kEvictingKv: return std::min(all_blocks, blocks_for_tokens(spec.token_budget, spec.block_size) + 1);
    case CacheKind::kRecurrentState: return 1;
  }
  return 0;
}

int64_t window_step_units(const CacheGroupSpec& spec, int64_t tokens, int64_t step_tokens) {
  // A step at c reads from c - window_tokens and writes up to c + step_tokens: a run of
  // window_tokens + step_tokens positions, which touches at most one block more than it fills.
  return std::min(blocks_for_tokens(tokens, spec.block_size),
                  blocks_for_tokens(spec.sink_tokens, spec.block_size) +
                      blocks_for_tokens(spec.window_tokens + step_tokens - 1, spec.block_size) + 1);
}

std::vector<int32_t> plan_capacities(const KvCacheConfig& config) {
  validate(config);
  if (config.num_blocks) return std::vector<int32_t>(config.groups.size(), *config.num_blocks);

  // Long double: budget x units overflows int64 for budgets of hundreds of GiB.
  long double demand_bytes = 0;
  for (const CacheGroupSpec& spec : config.groups) {
    demand_bytes +=
        static_cast<long double>(resident_units(spec, config.typical_sequence_tokens)) * spec.bytes_per_unit();
  }
  const long double typical_sequences = static_cast<long double>(config.memory_budget_bytes) / demand_bytes;
  std::vector<int32_t> capacities;
  for (size_t g = 0; g < config.groups.size(); ++g) {
    const long double units = typical_sequences * resident_units(config.groups[g], config.typical_sequence_tokens);
    if (units < 1) refuse(g, "the memory budget leaves it no block or slot");
    if (units > std::numeric_limits<int32_t>::max()) refuse(g, "more than 2^31 blocks or slots; raise block_size");
    capacities.push_back(static_cast<int32_t>(units));
  }
  return capacities;
}

}  // namespace strata::kvcache
