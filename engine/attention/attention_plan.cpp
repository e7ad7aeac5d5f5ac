#include "engine/attention/attention_plan.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "engine/attention/backend_registry.h"
#include "engine/attention/block_topk_backend.h"
#include "engine/attention/layout_error.h"
#include "engine/attention/plan_description.h"

namespace strata::attention {
namespace {

constexpr std::string_view kDefaultBackend = "full";
constexpr std::string_view kLinearBackend = "linear";

void check_parameters(const BackendInfo& backend, const nlohmann::json& params, const std::string& where) {
  for (const auto& [key, value] : params.items()) {
    if (std::ranges::find(backend.parameters, key) != backend.parameters.end()) continue;
    std::string known;
    for (const auto name : backend.parameters) known += (known.empty() ? "" : ", ") + std::string(name);
    throw LayoutError(where + ": unknown parameter '" + key + "' of backend '" + std::string(backend.name) +
                      "' (known: " + (known.empty() ? "none" : known) + ")");
  }
}

// The plans `rule` gives `layers` (its own, or for "*" those no explicit range names), in order.
// A layer trained as linear attention takes only the backend that runs such layers, and that
// backend only such layers.
std::vector<LayerPlan> resolve_rule(const LayoutRule& rule, const std::vector<int32_t>& layers,
                                    const std::string& where, const AttentionLayout& layout,
                                    const model::ModelConfig& config) {
  const BackendInfo& backend = find_backend(rule.backend, where);
  for (const int32_t layer : layers) {
    const TrainedAs trained = trained_as(config.layers[static_cast<size_t>(layer)]);
    if ((trained == TrainedAs::kLinear) == backend.runs_linear_layers) continue;
    throw LayoutError(where + ": layer " + std::to_string(layer) + " is trained as " + std::string(to_string(trained)) +
                      " attention; backend '" + std::string(backend.name) + "' " +
                      (backend.runs_linear_layers ? "runs only on layers trained for it"
                                                  : "needs softmax attention weights (only 'linear' runs this layer)"));
  }
  check_parameters(backend, rule.params, where);
  return backend.resolve(rule.params, RuleContext{config, where, layout.base_dir, layers});
}

void assign_cache_groups(AttentionPlan& plan, const model::ModelConfig& config) {
  // Ordered by (kind, sinks, window, budget): paged_kv (the rest 0) comes first.
  std::map<std::tuple<kvcache::CacheKind, int32_t, int32_t, int32_t>, std::vector<int32_t>> members;
  for (size_t li = 0; li < plan.layers.size(); ++li) {
    const LayerPlan& p = plan.layers[li].plan;
    const bool windowed = p.cache_kind == kvcache::CacheKind::kWindowKv;
    members[{p.cache_kind, windowed ? p.sink_tokens : 0, windowed ? p.window_tokens : 0,
             p.eviction ? p.eviction->budget_tokens : 0}]
        .push_back(static_cast<int32_t>(li));
  }
  for (const auto& [key, layers] : members) {
    const auto group = static_cast<int32_t>(plan.groups.size());
    CacheGroupPlan g{std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key), layers};
    for (const int32_t layer : layers) {
      LayerAttention& l = plan.layers[static_cast<size_t>(layer)];
      l.cache_group = group;
      const BackendInfo& backend = find_backend(l.plan.backend, plan.source);
      const int64_t bytes = backend.bytes_per_token(config);
      (g.kind == kvcache::CacheKind::kRecurrentState ? g.bytes_per_sequence : g.bytes_per_token) += bytes;
      if (backend.bytes_per_page != nullptr) g.bytes_per_page += backend.bytes_per_page(config, l.plan);
    }
    plan.groups.push_back(std::move(g));
  }
}

}  // namespace

std::string_view to_string(TrainedAs trained) {
  switch (trained) {
    case TrainedAs::kFull: return "full";
    case TrainedAs::kSliding: return "sliding";
    case TrainedAs::kLinear: return "linear";
  }
  return "unknown";
}

TrainedAs trained_as(const model::LayerAttentionSpec& layer) {
  if (layer.linear) return TrainedAs::kLinear;
  return layer.sliding_window > 0 ? TrainedAs::kSliding : TrainedAs::kFull;
}

AttentionPlan resolve_attention(const AttentionLayout& layout, const model::ModelConfig& config) {
  const auto n_layers = static_cast<size_t>(config.n_layers);
  std::vector<std::optional<LayerPlan>> chosen(n_layers);
  std::vector<std::string> chosen_by(n_layers, "default");
  const LayoutRule* every_layer = nullptr;
  for (const LayoutRule& rule : layout.rules) {
    if (rule.range.every_layer) {
      every_layer = &rule;
      continue;
    }
    const std::string where = layout.source + ", layers '" + rule.range.text + "'";
    const std::vector<int32_t> layers = rule.range.layers(config.n_layers, where);
    const std::vector<LayerPlan> plans = resolve_rule(rule, layers, where, layout, config);
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto li = static_cast<size_t>(layers[i]);
      if (chosen[li] && *chosen[li] != plans[i]) {
        throw LayoutError(layout.source + ": layer " + std::to_string(li) + " is claimed by ranges '" + chosen_by[li] +
                          "' (" + std::string(chosen[li]->backend) + ") and '" + rule.range.text + "' (" +
                          std::string(plans[i].backend) + ") with different settings");
      }
      chosen[li] = plans[i];
      chosen_by[li] = rule.range.text;
    }
  }
  // "*" takes the layers no explicit range named; without it each keeps the backend it was
  // trained for: `linear` on linear layers, `full` elsewhere.
  std::vector<int32_t> rest, rest_linear;
  for (size_t li = 0; li < n_layers; ++li) {
    if (chosen[li]) continue;
    const bool linear = every_layer == nullptr && config.layers[li].linear;
    (linear ? rest_linear : rest).push_back(static_cast<int32_t>(li));
  }
  const auto take_rest = [&](const std::vector<int32_t>& layers, const LayoutRule& rule) {
    if (layers.empty()) return;
    const std::vector<LayerPlan> plans = resolve_rule(rule, layers, layout.source + ", layers '*'", layout, config);
    for (size_t i = 0; i < layers.size(); ++i) {
      chosen[static_cast<size_t>(layers[i])] = plans[i];
      if (every_layer != nullptr) chosen_by[static_cast<size_t>(layers[i])] = "*";
    }
  };
  const auto default_rule = [](std::string_view backend) {
    return LayoutRule{LayerRange::parse("*", ""), std::string(backend), nlohmann::json::object()};
  };
  take_rest(rest, every_layer != nullptr ? *every_layer : default_rule(kDefaultBackend));
  take_rest(rest_linear, default_rule(kLinearBackend));

  AttentionPlan plan;
  plan.source = layout.source;
  plan.description = layout.description;
  for (size_t li = 0; li < n_layers; ++li) {
    plan.layers.push_back(LayerAttention{trained_as(config.layers[li]), config.layers[li].sliding_window, chosen_by[li],
                                         *chosen[li], 0});
  }
  check_selection_reuse(plan.layers, layout.source);
  assign_cache_groups(plan, config);
  return plan;
}

std::vector<kvcache::CacheGroupSpec> AttentionPlan::cache_group_specs(int32_t block_size) const {
  std::vector<kvcache::CacheGroupSpec> specs;
  for (const CacheGroupPlan& group : groups) {
    kvcache::CacheGroupSpec spec;
    spec.kind = group.kind;
    spec.block_size = block_size;
    spec.bytes_per_token = group.bytes_per_token_in_blocks_of(block_size);
    spec.bytes_per_sequence = group.bytes_per_sequence;
    spec.sink_tokens = group.sink_tokens;
    spec.window_tokens = group.window_tokens;
    spec.token_budget = group.budget_blocks(block_size) * block_size;
    specs.push_back(spec);
  }
  return specs;
}

std::vector<kvcache::CacheKind> AttentionPlan::group_kinds() const {
  std::vector<kvcache::CacheKind> kinds;
  for (const CacheGroupPlan& group : groups) kinds.push_back(group.kind);
  return kinds;
}

int64_t CacheGroupPlan::bytes_per_token_in_blocks_of(int32_t block_size) const {
  if (bytes_per_page % block_size != 0) {
    throw LayoutError("cache group of layers " + range_text(layers) + ": blocks of " + std::to_string(block_size) +
                      " tokens do not divide its " + std::to_string(bytes_per_page) +
                      " bytes of key bounds per block (use a power of two up to " +
                      std::to_string(bytes_per_page & -bytes_per_page) + ")");
  }
  return bytes_per_token + bytes_per_page / block_size;
}

bool AttentionPlan::all_paged() const {
  return std::ranges::all_of(groups, [](const CacheGroupPlan& g) { return g.kind == kvcache::CacheKind::kPagedKv; });
}

int64_t AttentionPlan::resident_kv_bytes(int64_t tokens, int32_t block_size) const {
  int64_t bytes = 0;
  for (const kvcache::CacheGroupSpec& spec : cache_group_specs(block_size)) {
    bytes += kvcache::resident_units(spec, tokens) * spec.bytes_per_unit();
  }
  return bytes;
}

}  // namespace strata::attention
