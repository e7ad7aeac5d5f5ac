// `evict`: training-free KV eviction. Each (layer, KV head) keeps its own budget of keys -- the
// first sink_tokens, the newest recent_tokens and the highest-scored others -- compacted into the
// front of the sequence's blocks; the blocks compaction empties go back to the pool (evicting_kv).
// Keys keep the RoPE of their original positions.
//
//   policy "snapkv" (SnapKV): a key's score is the attention the last observation_window prompt
//     queries give it (summed over the KV head's query heads), max-pooled over pool_kernel
//     neighbouring keys; scored once, when the prompt ends. Generated tokens are not scored: at a
//     decode-time compaction they stay and the prompt's selection gives way, lowest score first
//     (once only generated keys are left, the oldest leave), so memory stays flat while the
//     generated text keeps its local context.
//   policy "h2o" (H2O): a key's score is the attention every query gives it, prompt and decode,
//     accumulated; the heavy hitters are kept besides sinks and the recent window.
//
// Parameters:
//   policy              "snapkv" or "h2o" (required)
//   budget_tokens       keys kept per KV head B; or
//   budget_fraction     B as a fraction of the model's context length; exactly one of the two
//   sink_tokens         first keys never evicted (default 4 for h2o, 0 for snapkv)
//   recent_tokens       h2o: newest keys never evicted (default B / 2, H2O's even split)
//   observation_window  snapkv: the O last prompt queries that score, whose keys are kept (default 32)
//   pool_kernel         snapkv: odd max-pool width over keys (default 7)
// A layer trained with a sliding window is refused: evict keeps keys it never saw.
#pragma once

#include "engine/attention/backend_registry.h"

namespace strata::attention {

BackendInfo evict_backend();

// fp16 K and V plus each slot's original position (int32) and score (float) per KV head: what one
// token of one evicting layer holds (engine/model/paged_kv_store.h).
int64_t evict_bytes_per_token(const model::ModelConfig& config);

}  // namespace strata::attention
