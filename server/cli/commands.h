// The `strata` subcommands. Each takes the arguments after its name, writes its result to
// stdout and logs to stderr, and returns the process exit code; errors propagate as exceptions
// that main() turns into a one-line reason.
#pragma once

#include <string>
#include <vector>

namespace strata::cli {

using Args = std::vector<std::string>;

int run_generate(const Args& args);
int run_tokenize(const Args& args);
int run_info(const Args& args);
int run_bench(const Args& args);
int run_serve(const Args& args);
int run_eval(const Args& args);

// --threads N shared by the commands that run the model: 0 = all hardware threads.
int threads_option(const class ArgParser& parser);

}  // namespace strata::cli
