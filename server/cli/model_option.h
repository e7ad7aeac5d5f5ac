// The model a command runs: --model, --threads and --attention (a layout file of
// configs/attention/). Every command that loads a model for inference goes through here, so a
// new one (eval) gets the same layout handling by calling add_attention_option and load_model.
#pragma once

#include "engine/attention/attention_layout.h"
#include "engine/runtime/loaded_model.h"
#include "server/cli/arg_parser.h"

namespace strata::cli {

void add_attention_option(ArgParser& parser);
// The --attention layout, or the model's own attention (every layer `full`) without it.
attention::AttentionLayout attention_layout(const ArgParser& parser);
// Logs a resolved plan, layer range by layer range.
void log_attention_plan(const attention::AttentionPlan& plan);
// Loads --model with --threads threads and the --attention layout, and logs the resolved plan.
// A layout that does not fit the model is an attention::LayoutError naming the layer.
runtime::LoadedModel load_model(const ArgParser& parser);

}  // namespace strata::cli
