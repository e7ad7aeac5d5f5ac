#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#ifdef STRATA_WITH_CUDA
#include "engine/cuda/device.h"
#endif
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"

namespace strata::cli {

namespace {

// The GPUs this build could run on, or why there are none.
std::string cuda_devices() {
#ifdef STRATA_WITH_CUDA
  auto query = cuda::query_devices();
  if (query.devices.empty()) return "none (" + query.reason + ")";
  std::string out;
  for (const auto& d : query.devices) {
    out += (out.empty() ? "" : ", ") + std::to_string(d.index) + ": " + d.name + " (sm_" +
           std::to_string(d.compute_major) + std::to_string(d.compute_minor) + ")";
  }
  return out;
#else
  return "none (built without CUDA)";
#endif
}

}  // namespace

int run_info(const Args& args) {
  ArgParser p("info");
  p.option("--model", "PATH", "GGUF model file", true);
  p.flag("--json", "print one JSON object instead of text");
  if (!p.parse(args)) return 0;
  auto file = gguf::GgufFile::open(p.get_string("--model"));
  auto c = model::ModelConfig::from_gguf(*file);
  auto tok = tokenizer::Tokenizer::from_gguf(*file);

  std::map<std::string, int> tensor_types;
  uint64_t parameters = 0;
  for (const auto& t : file->tensors()) {
    ++tensor_types[std::string(gguf::tensor_type_name(t.type))];
    parameters += t.n_elements;
  }
  nlohmann::ordered_json info = {
      {"name", c.name},
      {"architecture", c.architecture},
      {"parameters", parameters},
      {"layers", c.n_layers},
      {"embedding_length", c.n_embd},
      {"feed_forward_length", c.n_ff},
      {"heads", c.n_heads},
      {"kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"context_length", c.context_length},
      {"vocab_size", c.vocab_size},
      {"rope_base", c.rope_base},
      {"tied_embeddings", c.tied_embeddings},
      {"tokenizer", file->get_string("tokenizer.ggml.model", "")},
      {"bos_token_id", tok->bos_id()},
      {"eos_token_id", tok->eos_id()},
      {"tensor_types", tensor_types},
      {"chat_template", file->has("tokenizer.chat_template")},
      {"cuda_devices", cuda_devices()},
  };
  if (p.has("--json")) {
    std::puts(info.dump().c_str());
    return 0;
  }
  for (const auto& [key, value] : info.items()) {
    std::string text;
    if (key == "tensor_types") {
      for (const auto& [type, count] : tensor_types) text += (text.empty() ? "" : ", ") + type + " x" + std::to_string(count);
    } else {
      text = value.is_string() ? value.get<std::string>() : value.dump();
    }
    std::printf("%-20s %s\n", (key + ":").c_str(), text.c_str());
  }
  return 0;
}

}  // namespace strata::cli
