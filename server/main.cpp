// strata: the command-line entry point.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: strata <command> [options]\n"
    "commands:\n"
    "  generate   complete a prompt (stdout: the completion only)\n"
    "  tokenize   print the token ids of a text as a JSON array\n"
    "  info       describe a model file\n"
    "  bench      measure prompt processing and generation speed\n"
    "  serve      run the OpenAI-compatible HTTP server\n"
    "  eval       compare an attention configuration with full attention (quality, memory, speed)\n"
    "run 'strata <command> --help' for the options of a command\n";

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr so stdout carries only results.
  spdlog::set_default_logger(spdlog::stderr_color_mt("strata"));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");

  const std::map<std::string, int (*)(const strata::cli::Args&)> commands = {
      {"generate", strata::cli::run_generate},
      {"tokenize", strata::cli::run_tokenize},
      {"info", strata::cli::run_info},
      {"bench", strata::cli::run_bench},
      {"serve", strata::cli::run_serve},
      {"eval", strata::cli::run_eval},
  };
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto command = commands.find(argv[1]);
  if (command == commands.end()) {
    std::fprintf(stderr, "strata: unknown command '%s'\n%s", argv[1], kUsage);
    return 2;
  }
  strata::cli::Args args(argv + 2, argv + argc);
  try {
    return command->second(args);
  } catch (const strata::cli::UsageError& e) {
    std::fprintf(stderr, "strata %s: %s (see 'strata %s --help')\n", argv[1], e.what(), argv[1]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
