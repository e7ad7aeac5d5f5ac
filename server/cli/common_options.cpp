#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"

namespace strata::cli {

int threads_option(const ArgParser& parser) { return static_cast<int>(parser.get_int("--threads", 0, 0, 1024)); }

}  // namespace strata::cli
