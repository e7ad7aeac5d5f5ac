// The numbers kvcache hands out and takes in. They index memory the engine owns; kvcache never
// touches that memory itself.
#pragma once

#include <cstdint>

namespace strata::kvcache {

using SeqId = int64_t;    // chosen by the caller (the scheduler), unique among live sequences
using TokenId = int32_t;  // a vocabulary id, only compared and hashed here
using BlockId = int32_t;  // a block of one KV cache group, in [0, capacity of the group)
using SlotId = int32_t;   // a state slot of one recurrent_state group, in [0, capacity)

// A block-table entry whose block was released (it left a window, or was compacted away).
// Tables stay indexed by position / block_size, so released entries keep their place.
inline constexpr BlockId kNoBlock = -1;

// A copy the engine must perform before it writes: unit `src` to unit `dst` of cache group
// `group` (whole blocks for KV groups, whole slots for recurrent_state groups).
struct CopyOp {
  int group = 0;
  int32_t src = 0;
  int32_t dst = 0;
  bool operator==(const CopyOp&) const = default;
};

}  // namespace strata::kvcache
