// --device cpu|cuda for the commands that run the model through the scheduler.
#pragma once

#include "engine/runtime/loaded_model.h"
#include "server/cli/arg_parser.h"

namespace strata::cli {

void add_device_option(ArgParser& parser);
// Points m.make_runner at the chosen device (default: cuda when this build has CUDA and a GPU
// is visible, else cpu). Throws UsageError for an unknown device or cuda without one.
void apply_device_option(const ArgParser& parser, runtime::LoadedModel& m);

}  // namespace strata::cli
