// `full`: softmax attention over every earlier key, or over the layer's own sliding window where
// the model was trained with one (Gemma 3's local layers).
//
// Parameter: "release_outside_window" (default false): on a layer trained with a sliding window,
// keep only the window's pages (a window_kv cache group that frees older pages) rather than
// every page (paged_kv, which the prefix cache can serve). Global layers ignore it.
#pragma once

#include "engine/attention/backend_registry.h"

namespace strata::attention {

BackendInfo full_backend();

}  // namespace strata::attention
