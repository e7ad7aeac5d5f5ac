#include "engine/model/paged_kv_store.h"

#include <algorithm>

#include "engine/cpu/simd.h"

namespace strata::model {

PagedKvStore::PagedKvStore(int32_t n_layers, int64_t token_elements, int32_t n_blocks, int32_t block_size,
                           const std::vector<bool>& keeps_key_bounds, int32_t slot_metadata_heads)
    : n_layers_(n_layers),
      n_blocks_(n_blocks),
      block_size_(block_size),
      token_stride_(token_elements),
      block_stride_(token_stride_ * block_size),
      layer_stride_(block_stride_ * n_blocks),
      bounds_slot_(static_cast<size_t>(n_layers), -1),
      bounds_layer_stride_(2 * token_stride_ * n_blocks),
      meta_heads_(slot_metadata_heads),
      k_(std::make_unique_for_overwrite<uint16_t[]>(static_cast<size_t>(layer_stride_ * n_layers))),
      v_(std::make_unique_for_overwrite<uint16_t[]>(static_cast<size_t>(layer_stride_ * n_layers))),
      positions_(std::make_unique_for_overwrite<int32_t[]>(static_cast<size_t>(meta_elements()))),
      scores_(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(meta_elements()))) {
  int64_t bounded = 0;
  for (size_t layer = 0; layer < keeps_key_bounds.size(); ++layer) {
    if (keeps_key_bounds[layer]) bounds_slot_[layer] = bounded++;
  }
  if (bounded > 0) {
    bounds_ = std::make_unique_for_overwrite<uint16_t[]>(static_cast<size_t>(bounds_layer_stride_ * bounded));
  }
}

void PagedKvStore::update_key_bounds(int layer, int32_t block) {
  const uint16_t* keys = k_.get() + layer * layer_stride_ + block * block_stride_;
  uint16_t* lo = bounds_of(layer, block);
  uint16_t* hi = lo + token_stride_;
  std::copy(keys, keys + token_stride_, lo);
  std::copy(keys, keys + token_stride_, hi);
  for (int32_t row = 1; row < block_size_; ++row) {
    const uint16_t* key = keys + row * token_stride_;
    for (int64_t i = 0; i < token_stride_; ++i) {
      const float value = cpu::fp16_value(key[i]);
      if (value < cpu::fp16_value(lo[i])) lo[i] = key[i];
      if (value > cpu::fp16_value(hi[i])) hi[i] = key[i];
    }
  }
}

void PagedKvStore::copy_block(int32_t src, int32_t dst) {
  for (int32_t layer = 0; layer < n_layers_; ++layer) {
    for (uint16_t* data : {k_.get(), v_.get()}) {
      const uint16_t* from = data + layer * layer_stride_ + src * block_stride_;
      std::copy(from, from + block_stride_, data + layer * layer_stride_ + dst * block_stride_);
    }
    const int64_t block_meta = int64_t{block_size_} * meta_heads_;
    const int64_t from = (int64_t{layer} * n_blocks_ + src) * block_meta;
    const int64_t to = (int64_t{layer} * n_blocks_ + dst) * block_meta;
    std::copy(positions_.get() + from, positions_.get() + from + block_meta, positions_.get() + to);
    std::copy(scores_.get() + from, scores_.get() + from + block_meta, scores_.get() + to);
    if (bounds_slot_[static_cast<size_t>(layer)] < 0) continue;
    std::copy_n(bounds_of(layer, src), 2 * token_stride_, bounds_of(layer, dst));
  }
}

}  // namespace strata::model
