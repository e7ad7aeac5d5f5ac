// What the harness compares: an attention configuration of the loaded model, as the runners
// it makes. The reference is `full`; a candidate is whatever a layout makes of the same model.
#pragma once

#include <string>

#include "engine/model/model_runner.h"

namespace strata::eval {

struct EvalTarget {
  std::string name;  // for tables and JSON, e.g. "full" or the layout file
  model::ModelRunnerFactory make_runner;
};

}  // namespace strata::eval
