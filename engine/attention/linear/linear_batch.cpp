#include "engine/attention/linear/linear_batch.h"

#include <stdexcept>
#include <string>

namespace strata::attention::linear {

LinearBatchPlan plan_linear_batch(std::span<const LinearSequence> batch, int32_t n_slots) {
  LinearBatchPlan plan;
  plan.sequences.reserve(batch.size());
  std::vector<bool> slot_taken(static_cast<size_t>(n_slots > 0 ? n_slots : 0), false);
  for (size_t i = 0; i < batch.size(); ++i) {
    const LinearSequence& s = batch[i];
    const std::string which = "linear batch sequence " + std::to_string(i) + ": ";
    if (s.n_tokens < 1) throw std::invalid_argument(which + "no tokens");
    if (s.start_pos < 0) throw std::invalid_argument(which + "negative start position");
    if (s.slot < 0 || s.slot >= n_slots) {
      throw std::invalid_argument(which + "slot " + std::to_string(s.slot) + " outside [0, " + std::to_string(n_slots) + ")");
    }
    // Two sequences updating one slot in one step would race and corrupt each other.
    if (slot_taken[static_cast<size_t>(s.slot)]) throw std::invalid_argument(which + "slot " + std::to_string(s.slot) + " used twice");
    slot_taken[static_cast<size_t>(s.slot)] = true;
    plan.sequences.push_back({s.slot, plan.n_rows, s.n_tokens, s.start_pos == 0});
    plan.n_rows += s.n_tokens;
  }
  return plan;
}

}  // namespace strata::attention::linear
