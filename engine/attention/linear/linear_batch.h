// A step of a linear-attention layer over a ragged batch: each sequence brings its new tokens
// (a prefill chunk or one decode token) and the state slot that kvcache's recurrent_state group
// gave it. The cells continue from what the slot holds, so prefill in chunks equals prefill in
// one go, and a decode step is a one-token chunk.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace strata::attention::linear {

struct LinearSequence {
  int32_t slot = 0;       // the sequence's state slot (kvcache::SlotId)
  int32_t start_pos = 0;  // tokens the slot has already absorbed; 0 starts from a zero state
  int32_t n_tokens = 1;   // this step's tokens, at least one
};

// Where each sequence's tokens lie in the step's token rows (sequences in order, back to back).
struct LinearSequencePlan {
  int32_t slot = 0;
  int64_t first_row = 0;
  int32_t n_tokens = 0;
  bool fresh = false;  // start_pos == 0: the slot's old contents are ignored and overwritten
};

struct LinearBatchPlan {
  std::vector<LinearSequencePlan> sequences;
  int64_t n_rows = 0;  // tokens of the whole step
};

// Checks the batch (std::invalid_argument naming the sequence: no tokens, a negative start, a
// slot outside [0, n_slots), two sequences on one slot) and lays out its rows. Host-only work,
// done once per step and shared by every linear layer of the step.
LinearBatchPlan plan_linear_batch(std::span<const LinearSequence> batch, int32_t n_slots);

}  // namespace strata::attention::linear
