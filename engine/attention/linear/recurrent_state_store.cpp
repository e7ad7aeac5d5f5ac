#include "engine/attention/linear/recurrent_state_store.h"

#include <algorithm>
#include <stdexcept>

namespace strata::attention::linear {

RecurrentStateStore::RecurrentStateStore(int32_t n_layers, int32_t n_slots, int64_t slot_floats)
    : n_layers_(n_layers), n_slots_(n_slots), slot_floats_(slot_floats) {
  if (n_layers < 1 || n_slots < 1 || slot_floats < 1) throw std::invalid_argument("RecurrentStateStore: empty shape");
  data_ = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(layer_floats() * n_layers));
}

void RecurrentStateStore::copy_slot(int32_t src, int32_t dst) {
  if (src < 0 || src >= n_slots_ || dst < 0 || dst >= n_slots_) throw std::out_of_range("RecurrentStateStore::copy_slot");
  for (int32_t l = 0; l < n_layers_; ++l) {
    const StateSlots slots = layer(l);
    std::copy(slots.slot(src), slots.slot(src) + slot_floats_, slots.slot(dst));
  }
}

}  // namespace strata::attention::linear
