// --device cpu|cuda for the commands that run the model, and --synthetic models (GPU only).
#pragma once

#include <string>

#include "engine/model/model_config.h"
#include "engine/model/model_runner.h"
#include "engine/runtime/loaded_model.h"
#include "server/cli/arg_parser.h"

namespace strata::cli {

void add_device_option(ArgParser& parser);
// Points m.make_runner at the chosen device (default: cuda when this build has CUDA and a GPU
// is visible, else cpu) and returns its description for tables. Throws UsageError for an
// unknown device or cuda without one.
std::string apply_device_option(const ArgParser& parser, runtime::LoadedModel& m);

// "a, b" of the --synthetic names.
std::string synthetic_names();
// The config of --synthetic NAME; UsageError naming the choices for an unknown one.
model::ModelConfig synthetic_model(const std::string& name);
// Runners of random weights of `config` on the GPU (seed 1), attention as `plan` says (resolved
// against `config`); UsageError without CUDA or with --device cpu, attention::LayoutError for a
// plan the CUDA model does not run.
model::ModelRunnerFactory synthetic_runner(const ArgParser& parser, const model::ModelConfig& config,
                                           const attention::AttentionPlan& plan);

}  // namespace strata::cli
