// The state slots of one recurrent_state group: each slot is free or owned by one sequence.
// Slots are never shared; a fork copies its parent's slot into a slot of its own.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kvcache/ids.h"

namespace strata::kvcache {

class SlotPool {
 public:
  explicit SlotPool(int32_t num_slots);

  int32_t num_slots() const { return static_cast<int32_t>(in_use_.size()); }
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_used() const { return num_slots() - num_free(); }

  // Throws std::logic_error when no slot is free.
  SlotId allocate();
  void release(SlotId slot);

  // `owners[s]` is the number of sequences holding slot s. Throws std::logic_error naming the
  // first slot that is not either free (on the free list once) or held by exactly one sequence.
  void check_invariants(std::span<const int32_t> owners) const;

 private:
  std::vector<bool> in_use_;
  std::vector<SlotId> free_;
};

}  // namespace strata::kvcache
