#include "engine/model/paged_kv_store.h"

#include <algorithm>

namespace strata::model {

void PagedKvStore::copy_block(int32_t src, int32_t dst) {
  for (int32_t layer = 0; layer < n_layers_; ++layer) {
    for (uint16_t* data : {k_.get(), v_.get()}) {
      const uint16_t* from = data + layer * layer_stride_ + src * block_stride_;
      std::copy(from, from + block_stride_, data + layer * layer_stride_ + dst * block_stride_);
    }
  }
}

}  // namespace strata::model
