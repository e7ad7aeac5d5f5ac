// `block_topk`: each query reads, per KV head, the K pages whose key bounds promise the highest
// scores for it, plus sink and recent pages (Quest's query-aware page choice; the definition is
// page_selection.h). Every page stays in the cache (paged_kv, shared with `full` layers); fewer
// are read. Each block carries the elementwise min and max of its keys per KV head.
//
// Parameters:
//   top_pages          K, pages per query; or
//   page_fraction      K as a fraction of the pages the query sees, in (0, 1]; exactly one of the two
//   sink_pages         leading pages every query reads (default 1)
//   recent_pages       last pages every query reads, its own included (default 1, at least 1)
//   reuse_selection_of a block_topk layer before every layer of the rule, with the same budget:
//                      these layers read the pages it chose for the same query (TidalDecode)
#pragma once

#include <string>
#include <vector>

#include "engine/attention/attention_plan.h"
#include "engine/attention/backend_registry.h"

namespace strata::attention {

BackendInfo block_topk_backend();

// Refuses (LayoutError naming the layer and its rule) a layer whose reuse_selection_of names a
// layer that is not an earlier, selecting block_topk layer with the same budget. `layers` is
// the whole model's; `source` the layout's name.
void check_selection_reuse(const std::vector<LayerAttention>& layers, const std::string& source);

}  // namespace strata::attention
