#include "engine/attention/sink_window_backend.h"

#include <algorithm>

#include "engine/attention/head_window_plan.h"
#include "engine/attention/layout_error.h"
#include "engine/attention/layout_params.h"

namespace strata::attention {
namespace {

constexpr int64_t kDefaultSinkTokens = 4;

std::vector<LayerPlan> resolve_sink_window(const nlohmann::json& params, const RuleContext& context) {
  const auto& config = context.config;
  const auto sinks = optional_int_param(params, "sink_tokens", 0, config.context_length, context.where);
  const int32_t window =
      count_or_fraction_param(params, "window_tokens", "window_fraction", config.context_length, "sink_window",
                              context.where)
          .of(config.context_length);
  std::optional<HeadWindowPlan> head_plan;
  if (const auto file = optional_string_param(params, "head_windows", context.where)) {
    head_plan = HeadWindowPlan::load(context.base_dir / *file);
    for (const int32_t layer : head_plan->named_layers(config.n_layers)) {
      if (std::ranges::find(context.layers, layer) == context.layers.end()) {
        throw LayoutError(context.where + ": " + head_plan->source() + " names layer " + std::to_string(layer) +
                          ", which this rule does not cover");
      }
    }
  }
  std::vector<LayerPlan> plans;
  for (const int32_t layer : context.layers) {
    const std::string at = context.where + ": layer " + std::to_string(layer);
    const int32_t trained = config.layers[static_cast<size_t>(layer)].sliding_window;
    if (trained > 0 && window > trained) {
      throw LayoutError(at + " was trained with a sliding window of " + std::to_string(trained) +
                        " tokens; a sink_window of " + std::to_string(window) +
                        " would show it keys it never saw (use window_tokens <= " + std::to_string(trained) + ")");
    }
    LayerPlan plan;
    plan.backend = "sink_window";
    plan.cache_kind = kvcache::CacheKind::kWindowKv;
    plan.sink_tokens = static_cast<int32_t>(sinks.value_or(kDefaultSinkTokens));
    plan.window_tokens = window;
    if (head_plan) {
      plan.head_windows =
          head_plan->query_head_windows(layer, config.n_layers, config.n_heads, config.n_kv_heads).value_or(
              std::vector<int32_t>{});
    }
    for (size_t h = 0; h < plan.head_windows.size(); ++h) {
      if (plan.head_windows[h] > window) {
        throw LayoutError(at + ": head " + std::to_string(h) + "'s window of " + std::to_string(plan.head_windows[h]) +
                          " exceeds the rule's window of " + std::to_string(window) + ", which bounds the cache");
      }
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace

BackendInfo sink_window_backend() {
  return BackendInfo{
      .name = "sink_window",
      .summary = "sink tokens + the last W tokens (StreamingLLM / LM-Infinite), optional per-head windows (MoA)",
      .cache_kinds = {kvcache::CacheKind::kWindowKv},
      .parameters = {"sink_tokens", "window_tokens", "window_fraction", "head_windows"},
      .supports = {.prefix_cache = false, .chunked_prefill = true, .preemption_recompute = true, .cuda_graphs = true},
      .runs_on_cuda = true,  // per-head windows excepted (device_support.h)
      .bytes_per_token = fp16_kv_bytes_per_token,
      .resolve = resolve_sink_window,
  };
}

}  // namespace strata::attention
