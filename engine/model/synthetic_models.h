// Architectures by name, for runs without a model file: `--synthetic NAME` builds random
// weights of this shape on the device (benchmarks only: the outputs mean nothing).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/model/model_config.h"

namespace strata::model {

// The config of a known architecture (see synthetic_model_names()), else nullopt.
std::optional<ModelConfig> synthetic_config(const std::string& name);
std::vector<std::string> synthetic_model_names();

}  // namespace strata::model
