#include "engine/model/cpu_kv_cache.h"

#include <stdexcept>
#include <string>

namespace strata::model {

CpuKvCache::CpuKvCache(const ModelConfig& config, const attention::AttentionPlan& plan,
                       std::span<const int32_t> units_per_group, int32_t block_size)
    : block_size_(block_size),
      group_of_(static_cast<size_t>(config.n_layers)),
      index_in_group_(static_cast<size_t>(config.n_layers)) {
  if (units_per_group.size() != plan.groups.size()) {
    throw std::invalid_argument("KV cache: " + std::to_string(units_per_group.size()) +
                                " block counts for an attention plan of " + std::to_string(plan.groups.size()) +
                                " cache groups");
  }
  const int64_t token_elements = static_cast<int64_t>(config.n_kv_heads) * config.head_dim;
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    const auto& layers = plan.groups[g].layers;
    const auto n_layers = static_cast<int32_t>(layers.size());
    GroupStore& store = groups_.emplace_back();
    if (plan.groups[g].kind == kvcache::CacheKind::kRecurrentState) {
      store.state.emplace(n_layers, units_per_group[g], config.gated_delta_net.slot_floats());
    } else {
      std::vector<bool> keeps_key_bounds;
      for (const int32_t layer : layers) {
        keeps_key_bounds.push_back(plan.layers[static_cast<size_t>(layer)].plan.scores_pages());
      }
      const bool evicting = plan.groups[g].kind == kvcache::CacheKind::kEvictingKv;
      store.kv.emplace(n_layers, token_elements, units_per_group[g], block_size, keeps_key_bounds,
                       evicting ? config.n_kv_heads : 0);
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      group_of_[static_cast<size_t>(layers[i])] = static_cast<int>(g);
      index_in_group_[static_cast<size_t>(layers[i])] = static_cast<int>(i);
    }
  }
}

void CpuKvCache::copy_block(int group, int32_t src, int32_t dst) {
  if (group < 0 || group >= num_groups()) throw std::invalid_argument("copy_block: no cache group " + std::to_string(group));
  GroupStore& store = groups_[static_cast<size_t>(group)];
  if (store.state) {
    store.state->copy_slot(src, dst);
  } else {
    store.kv->copy_block(src, dst);
  }
}

}  // namespace strata::model
