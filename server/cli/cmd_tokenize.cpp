#include <cstdio>

#include <nlohmann/json.hpp>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"

namespace strata::cli {

int run_tokenize(const Args& args) {
  ArgParser p("tokenize");
  p.option("--model", "PATH", "GGUF model file", true);
  p.option("--text", "TEXT", "text to tokenize", true);
  p.flag("--no-special", "spell special-token text as ordinary text (llama.cpp's default parses it)");
  if (!p.parse(args)) return 0;
  auto file = gguf::GgufFile::open(p.get_string("--model"));
  auto tok = tokenizer::Tokenizer::from_gguf(*file);
  auto ids = tok->encode(p.get_string("--text"), /*add_special=*/true, /*parse_special=*/!p.has("--no-special"));
  std::puts(nlohmann::json(ids).dump().c_str());
  return 0;
}

}  // namespace strata::cli
