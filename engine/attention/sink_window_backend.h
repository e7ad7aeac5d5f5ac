// `sink_window`: each query reads the first sink_tokens keys and the last window keys, itself
// included (StreamingLLM's attention sinks, LM-Infinite's Λ mask); the pages between leave the
// cache (window_kv). Training-free, so any layer may use it; positions are not re-indexed (keys
// keep the RoPE of their original positions).
//
// Parameters:
//   sink_tokens     leading keys every query reads (default 4, StreamingLLM's choice)
//   window_tokens   the window W: keys (p - W, p]; or
//   window_fraction W as a fraction of the model's context length, in (0, 1]; exactly one of the two
//   head_windows    a head-window plan file (head_window_plan.h), relative to the layout file:
//                   MoA-style windows per head, each at most W (W bounds the cache)
// On a layer trained with a sliding window, W may not exceed that window.
#pragma once

#include "engine/attention/backend_registry.h"

namespace strata::attention {

BackendInfo sink_window_backend();

}  // namespace strata::attention
