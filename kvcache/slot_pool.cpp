#include "kvcache/slot_pool.h"

#include <stdexcept>
#include <string>

namespace strata::kvcache {

SlotPool::SlotPool(int32_t num_slots) : in_use_(num_slots) {
  for (SlotId slot = num_slots - 1; slot >= 0; --slot) free_.push_back(slot);
}

SlotId SlotPool::allocate() {
  if (free_.empty()) throw std::logic_error("kvcache: SlotPool::allocate with no slot free");
  const SlotId slot = free_.back();
  free_.pop_back();
  in_use_[slot] = true;
  return slot;
}

void SlotPool::release(SlotId slot) {
  if (!in_use_[slot]) throw std::logic_error("kvcache: release of free slot " + std::to_string(slot));
  in_use_[slot] = false;
  free_.push_back(slot);
}

void SlotPool::check_invariants(std::span<const int32_t> owners) const {
  if (owners.size() != in_use_.size()) throw std::logic_error("kvcache invariant: owners has the wrong size");
  std::vector<int32_t> on_free_list(in_use_.size());
  for (const SlotId slot : free_) ++on_free_list[slot];
  for (SlotId slot = 0; slot < num_slots(); ++slot) {
    const bool consistent =
        in_use_[slot] ? owners[slot] == 1 && on_free_list[slot] == 0 : owners[slot] == 0 && on_free_list[slot] == 1;
    if (!consistent) {
      throw std::logic_error("kvcache invariant: slot " + std::to_string(slot) + " is " +
                             (in_use_[slot] ? "used" : "free") + " with " + std::to_string(owners[slot]) +
                             " owners and on the free list " + std::to_string(on_free_list[slot]) + " times");
    }
  }
}

}  // namespace strata::kvcache
