#include "engine/model/paged_kv_store.h"

#include <algorithm>

namespace strata::model {

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
  }
}

}  // namespace strata::model
