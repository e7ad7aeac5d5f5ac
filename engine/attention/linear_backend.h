// `linear`: the recurrent cells of engine/attention/linear/ (Qwen3-Next's gated delta rule) on
// the layers the model was trained with them. State lives in a recurrent_state cache group: one
// fixed-size slot per sequence, no pages. No parameters; any other layer is refused (DESIGN.md §2:
// linear attention runs only where the weights were trained for it).
#pragma once

#include "engine/attention/backend_registry.h"

namespace strata::attention {

BackendInfo linear_backend();

}  // namespace strata::attention
