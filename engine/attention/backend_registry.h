// The attention backends a layout may name, each with what it declares (DESIGN.md §2): its cache
// kinds, its bytes, the serving features it works with, the devices it runs on, and how it turns
// a layout rule's parameters into layer plans. Implemented: `full`, `sink_window`, `block_topk`,
// `linear` and `evict`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/attention/layer_plan.h"
#include "engine/model/model_config.h"

namespace strata::attention {

// Which serving features a backend's layers can be combined with.
struct FeatureSupport {
  bool prefix_cache = false;          // its cache blocks can be shared by later prompts
  bool chunked_prefill = false;       // a prompt computed in pieces equals one piece
  bool preemption_recompute = false;  // dropping the cache and recomputing from tokens is exact
  bool cuda_graphs = false;           // decode steps can be captured and replayed
};

// One layout rule being resolved: its layers and what its parameters may refer to.
struct RuleContext {
  const model::ModelConfig& config;
  std::string where;                // "layout 'f.json', layers '2-29'": the prefix of every message
  std::filesystem::path base_dir;   // files named by parameters are relative to the layout file
  std::span<const int32_t> layers;  // the rule's layers, in order
};

struct BackendInfo {
  std::string_view name;
  std::string_view summary;
  std::vector<kvcache::CacheKind> cache_kinds;  // the kinds its layers can get
  std::vector<std::string_view> parameters;     // the keys a rule may give besides "backend"
  FeatureSupport supports;
  bool runs_on_cuda = false;  // every backend runs on the CPU
  // Runs exactly the layers trained as linear attention (their weights have no softmax
  // attention), where every other backend runs exactly the others.
  bool runs_linear_layers = false;
  // Cache bytes of one token in one layer (KV kinds) or of one sequence (state kinds).
  int64_t (*bytes_per_token)(const model::ModelConfig& config);
  // Cache bytes of one block in one layer besides its tokens' (KV kinds; block_topk's key
  // bounds), whatever the block size; none when null.
  int64_t (*bytes_per_page)(const model::ModelConfig& config, const LayerPlan& plan) = nullptr;
  // The plan of each of the rule's layers, in the order of context.layers; parameters are
  // already checked against `parameters`. Throws LayoutError naming the layer and the reason.
  std::vector<LayerPlan> (*resolve)(const nlohmann::json& params, const RuleContext& context);
};

// fp16 K and V of one token in one layer: the bytes of the KV backends.
int64_t fp16_kv_bytes_per_token(const model::ModelConfig& config);

// Every registered backend, in a fixed order.
std::span<const BackendInfo> registered_backends();
// The backend called `name`; LayoutError (prefixed with `where`) for an unknown one, saying
// which names exist.
const BackendInfo& find_backend(std::string_view name, const std::string& where);

// `plan` on each of the rule's layers, for backends that need layers trained without a sliding
// window: LayoutError naming a layer trained with one (plan.backend would show it keys it never saw).
std::vector<LayerPlan> plan_on_unwindowed_layers(const LayerPlan& plan, const RuleContext& context);

}  // namespace strata::attention
