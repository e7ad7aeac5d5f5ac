// The resolved attention plan as the front ends show it: JSON for `strata info --json` and
// /v1/models, and one text line per run of alike layers for logs and `strata info`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/attention/attention_plan.h"

namespace strata::attention {

// "0-4,6,8-9": layer indices (ascending) as a layer range.
std::string range_text(const std::vector<int32_t>& layers);

// {"layout", "description", "layers": [{"layer", "trained_as", "trained_window", "backend",
// "rule", "sink_tokens", "window_tokens", "head_windows", "eviction", "top_pages" | "page_fraction",
// "sink_pages", "recent_pages", "reuse_selection_of", "cache_group"}, ...],
// "cache_groups": [{"kind", "layers", "sink_tokens", "window_tokens", "token_budget", "bytes_per_token"
// | "bytes_per_sequence", "bytes_per_page"}, ...]}.
// Keys that do not apply (a window of a global layer) are left out.
nlohmann::ordered_json describe_plan(const AttentionPlan& plan);

// "layers 0-4,6-10: trained sliding 512; full, window 512; cache group 1 (window_kv)", one per
// distinct layer setting, in layer order of first appearance.
std::vector<std::string> describe_plan_lines(const AttentionPlan& plan);

// The KV bytes one sequence of `tokens` tokens holds under `plan`, next to every layer keeping
// every token (an all-global layout): {"tokens", "bytes", "all_global_bytes", "fraction"}.
nlohmann::ordered_json kv_bytes_at(const AttentionPlan& plan, const model::ModelConfig& config, int64_t tokens,
                                   int32_t block_size);

}  // namespace strata::attention
