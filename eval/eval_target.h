// What the harness compares: one attention configuration of a model file, loaded with its
// plan and pointed at its device. The reference is `full`; a candidate is the same file loaded
// with a layout (`strata eval --attention FILE`). Each runs through the serving path (scheduler,
// kvcache groups of its own plan), so memory and speed are what serving would see.
#pragma once

#include <string>

#include "engine/runtime/loaded_model.h"

namespace strata::eval {

struct EvalTarget {
  std::string name;             // for tables and JSON, e.g. "full" or the layout file
  runtime::LoadedModel& model;  // its attention plan and make_runner
};

}  // namespace strata::eval
