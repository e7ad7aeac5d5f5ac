#include "engine/attention/plan_description.h"

#include <map>
#include <sstream>

#include "engine/attention/backend_registry.h"

namespace strata::attention {
namespace {

// "top 8 pages" or "0.125 of the pages", then the pages always read: block_topk's budget.
std::string budget_text(const PageBudget& b) {
  std::ostringstream fraction;
  fraction << b.page_fraction;
  return (b.top_pages > 0 ? "top " + std::to_string(b.top_pages) + " pages" : fraction.str() + " of the pages") + " (" +
         std::to_string(b.sink_pages) + " sink, " + std::to_string(b.recent_pages) + " recent)";
}

// What one layer's line says, layer index aside.
std::string layer_setting(const LayerAttention& layer, const AttentionPlan& plan) {
  const LayerPlan& p = layer.plan;
  std::string text = "trained " + std::string(to_string(layer.trained_as));
  if (layer.trained_as == TrainedAs::kSliding) text += " " + std::to_string(layer.trained_window);
  text += "; " + std::string(p.backend);
  if (p.sink_tokens > 0) text += ", " + std::to_string(p.sink_tokens) + " sinks";
  if (p.window_tokens > 0) text += ", window " + std::to_string(p.window_tokens);
  if (!p.head_windows.empty()) {
    text += ", head windows [";
    for (size_t h = 0; h < p.head_windows.size(); ++h) text += (h ? " " : "") + std::to_string(p.head_windows[h]);
    text += "]";
  }
  if (const auto& e = p.eviction) {
    text += ", " + std::string(to_string(e->policy)) + " budget " + std::to_string(e->budget_tokens);
    if (e->sink_tokens > 0) text += ", " + std::to_string(e->sink_tokens) + " sinks";
    text += e->policy == EvictPolicy::kSnapKv ? ", observation " + std::to_string(e->recent_tokens) + ", pool " +
                                                    std::to_string(e->pool_kernel)
                                              : ", recent " + std::to_string(e->recent_tokens);
  }
  if (p.page_budget) text += ", " + budget_text(*p.page_budget);
  if (p.reuse_selection_of >= 0) text += ", pages chosen by layer " + std::to_string(p.reuse_selection_of);
  const auto& group = plan.groups[static_cast<size_t>(layer.cache_group)];
  return text + "; cache group " + std::to_string(layer.cache_group) + " (" + std::string(kvcache::to_string(group.kind)) +
         ")";
}

}  // namespace

std::string range_text(const std::vector<int32_t>& layers) {
  std::string text;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    text += (text.empty() ? "" : ",") + std::to_string(layers[i]);
    if (j > i) text += "-" + std::to_string(layers[j]);
    i = j + 1;
  }
  return text;
}

nlohmann::ordered_json describe_plan(const AttentionPlan& plan) {
  nlohmann::ordered_json out;
  out["layout"] = plan.source.empty() ? "the model's own" : plan.source;
  if (!plan.description.empty()) out["description"] = plan.description;
  out["layers"] = nlohmann::ordered_json::array();
  for (size_t li = 0; li < plan.layers.size(); ++li) {
    const LayerAttention& layer = plan.layers[li];
    nlohmann::ordered_json entry = {{"layer", li}, {"trained_as", to_string(layer.trained_as)}};
    if (layer.trained_as == TrainedAs::kSliding) entry["trained_window"] = layer.trained_window;
    entry["backend"] = layer.plan.backend;
    entry["rule"] = layer.rule;
    if (layer.plan.sink_tokens > 0) entry["sink_tokens"] = layer.plan.sink_tokens;
    if (layer.plan.window_tokens > 0) entry["window_tokens"] = layer.plan.window_tokens;
    if (!layer.plan.head_windows.empty()) entry["head_windows"] = layer.plan.head_windows;
    if (const auto& e = layer.plan.eviction) {
      entry["eviction"] = {{"policy", to_string(e->policy)}, {"budget_tokens", e->budget_tokens},
                           {"sink_tokens", e->sink_tokens}};
      if (e->policy == EvictPolicy::kSnapKv) {
        entry["eviction"]["observation_window"] = e->recent_tokens;
        entry["eviction"]["pool_kernel"] = e->pool_kernel;
      } else {
        entry["eviction"]["recent_tokens"] = e->recent_tokens;
      }
    }
    if (const auto& budget = layer.plan.page_budget) {
      if (budget->top_pages > 0) {
        entry["top_pages"] = budget->top_pages;
      } else {
        entry["page_fraction"] = budget->page_fraction;
      }
      entry["sink_pages"] = budget->sink_pages;
      entry["recent_pages"] = budget->recent_pages;
    }
    if (layer.plan.reuse_selection_of >= 0) entry["reuse_selection_of"] = layer.plan.reuse_selection_of;
    entry["cache_group"] = layer.cache_group;
    out["layers"].push_back(std::move(entry));
  }
  out["cache_groups"] = nlohmann::ordered_json::array();
  for (const CacheGroupPlan& group : plan.groups) {
    nlohmann::ordered_json entry = {{"kind", kvcache::to_string(group.kind)}, {"layers", range_text(group.layers)}};
    if (group.kind == kvcache::CacheKind::kWindowKv) {
      entry["sink_tokens"] = group.sink_tokens;
      entry["window_tokens"] = group.window_tokens;
    }
    if (group.kind == kvcache::CacheKind::kEvictingKv) entry["token_budget"] = group.token_budget;
    if (group.kind == kvcache::CacheKind::kRecurrentState) {
      entry["bytes_per_sequence"] = group.bytes_per_sequence;
    } else {
      entry["bytes_per_token"] = group.bytes_per_token;
    }
    if (group.bytes_per_page > 0) entry["bytes_per_page"] = group.bytes_per_page;
    out["cache_groups"].push_back(std::move(entry));
  }
  return out;
}

std::vector<std::string> describe_plan_lines(const AttentionPlan& plan) {
  std::vector<std::string> settings;
  std::map<std::string, std::vector<int32_t>> layers_of;
  for (size_t li = 0; li < plan.layers.size(); ++li) {
    const std::string setting = layer_setting(plan.layers[li], plan);
    auto& layers = layers_of[setting];
    if (layers.empty()) settings.push_back(setting);
    layers.push_back(static_cast<int32_t>(li));
  }
  std::vector<std::string> lines;
  for (const auto& setting : settings) lines.push_back("layers " + range_text(layers_of[setting]) + ": " + setting);
  return lines;
}

nlohmann::ordered_json kv_bytes_at(const AttentionPlan& plan, const model::ModelConfig& config, int64_t tokens,
                                   int32_t block_size) {
  const int64_t bytes = plan.resident_kv_bytes(tokens, block_size);
  const int64_t all_global =
      kvcache::blocks_for_tokens(tokens, block_size) * block_size * fp16_kv_bytes_per_token(config) * config.n_layers;
  return {{"tokens", tokens},
          {"bytes", bytes},
          {"all_global_bytes", all_global},
          {"fraction", static_cast<double>(bytes) / static_cast<double>(all_global)}};
}

}  // namespace strata::attention
