// The memory behind a recurrent_state cache group on the CPU: for each linear layer, n_slots
// fixed-size fp32 slots (a cell's recurrent state and conv state), laid out [layer][slot][float].
// kvcache/ decides which slot a sequence owns; this store only holds the bytes.
#pragma once

#include <cstdint>
#include <memory>

namespace strata::attention::linear {

// One layer's slots, as the cells see them.
struct StateSlots {
  float* base = nullptr;
  int64_t slot_floats = 0;
  int32_t n_slots = 0;

  float* slot(int32_t s) const { return base + s * slot_floats; }
};

class RecurrentStateStore {
 public:
  RecurrentStateStore(int32_t n_layers, int32_t n_slots, int64_t slot_floats);

  int32_t n_slots() const { return n_slots_; }
  int64_t bytes_per_sequence() const { return static_cast<int64_t>(sizeof(float)) * slot_floats_ * n_layers_; }

  StateSlots layer(int32_t layer) const { return {data_.get() + layer * layer_floats(), slot_floats_, n_slots_}; }

  // Copies slot `src` to slot `dst` in every layer (a fork: kvcache's CopyOp for this group).
  void copy_slot(int32_t src, int32_t dst);

 private:
  int64_t layer_floats() const { return slot_floats_ * n_slots_; }

  int32_t n_layers_;
  int32_t n_slots_;
  int64_t slot_floats_;
  // Left uninitialized: a cell zeroes a slot when a sequence starts in it (LinearSequence::start_pos 0).
  std::unique_ptr<float[]> data_;
};

}  // namespace strata::attention::linear
