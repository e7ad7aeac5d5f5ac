// The scheduler and KV-cache flags shared by the commands that serve many requests.
#pragma once

#include "scheduler/scheduler_config.h"
#include "server/cli/arg_parser.h"

namespace strata::cli {

void add_scheduler_options(ArgParser& parser);
// Throws UsageError for invalid values.
scheduler::SchedulerConfig scheduler_config(const ArgParser& parser);

}  // namespace strata::cli
