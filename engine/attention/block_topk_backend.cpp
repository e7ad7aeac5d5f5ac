#include "engine/attention/block_topk_backend.h"

#include "engine/attention/layout_error.h"
#include "engine/attention/layout_params.h"

namespace strata::attention {
namespace {

constexpr int64_t kDefaultSinkPages = 1;
constexpr int64_t kDefaultRecentPages = 1;

PageBudget budget_of(const nlohmann::json& params, const RuleContext& context) {
  const int64_t most = context.config.context_length;
  const auto [top, fraction] =
      count_or_fraction_param(params, "top_pages", "page_fraction", most, "block_topk", context.where);
  PageBudget budget;
  budget.top_pages = static_cast<int32_t>(top.value_or(0));
  budget.page_fraction = fraction.value_or(0.0);
  budget.sink_pages =
      static_cast<int32_t>(optional_int_param(params, "sink_pages", 0, most, context.where).value_or(kDefaultSinkPages));
  // The query's own page is partial, so it has no bounds to be scored by: it is always read.
  budget.recent_pages = static_cast<int32_t>(
      optional_int_param(params, "recent_pages", 1, most, context.where).value_or(kDefaultRecentPages));
  return budget;
}

std::vector<LayerPlan> resolve_block_topk(const nlohmann::json& params, const RuleContext& context) {
  const PageBudget budget = budget_of(params, context);
  const auto reuse = optional_int_param(params, "reuse_selection_of", 0, context.config.n_layers - 1, context.where);
  LayerPlan plan;
  plan.backend = "block_topk";
  plan.page_budget = budget;
  plan.reuse_selection_of = static_cast<int32_t>(reuse.value_or(-1));
  return plan_on_unwindowed_layers(plan, context);
}

// Each block's key bounds, min and max per KV head, fp16; a layer reusing another's choice
// scores nothing and keeps none.
int64_t key_bounds_bytes_per_page(const model::ModelConfig& config, const LayerPlan& plan) {
  return plan.scores_pages() ? int64_t{2} * config.n_kv_heads * config.head_dim * 2 : 0;
}

}  // namespace

BackendInfo block_topk_backend() {
  return BackendInfo{
      .name = "block_topk",
      .summary = "per query and KV head, the K pages with the highest key-bound scores + sink and recent pages "
                 "(Quest), optionally one layer's choice reused by later ones (TidalDecode)",
      .cache_kinds = {kvcache::CacheKind::kPagedKv},
      .parameters = {"top_pages", "page_fraction", "sink_pages", "recent_pages", "reuse_selection_of"},
      .supports = {.prefix_cache = true, .chunked_prefill = true, .preemption_recompute = true, .cuda_graphs = true},
      .runs_on_cuda = true,
      .bytes_per_token = fp16_kv_bytes_per_token,
      .bytes_per_page = key_bounds_bytes_per_page,
      .resolve = resolve_block_topk,
  };
}

void check_selection_reuse(const std::vector<LayerAttention>& layers, const std::string& source) {
  for (size_t li = 0; li < layers.size(); ++li) {
    const LayerPlan& plan = layers[li].plan;
    if (plan.reuse_selection_of < 0) continue;
    const auto from = static_cast<size_t>(plan.reuse_selection_of);
    const std::string at = source + ", layers '" + layers[li].rule + "': layer " + std::to_string(li) +
                           " cannot reuse the page selection of layer " + std::to_string(from);
    const LayerPlan& chooser = layers[from].plan;
    if (from >= li) throw LayoutError(at + ": it must come before every layer that reuses it");
    if (chooser.backend != "block_topk") {
      throw LayoutError(at + ", which runs " + std::string(chooser.backend) + ", not block_topk");
    }
    if (chooser.reuse_selection_of >= 0) {
      throw LayoutError(at + ", which reuses layer " + std::to_string(chooser.reuse_selection_of) +
                        "'s itself (name that layer)");
    }
    if (chooser.page_budget != plan.page_budget) {
      throw LayoutError(at + ", whose top_pages/page_fraction, sink_pages and recent_pages differ");
    }
  }
}

}  // namespace strata::attention
