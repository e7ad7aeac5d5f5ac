#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "engine/attention/attention_plan.h"
#include "engine/attention/plan_description.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"
#ifdef STRATA_WITH_CUDA
#include "engine/cuda/device.h"
#endif
#include "engine/tokenizer/tokenizer.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"
#include "server/cli/model_option.h"

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

// The layers' attention in one line: how many are global and how many slide, with their RoPE bases.
std::string describe_attention(const model::ModelConfig& c) {
  int global = 0, sliding = 0, linear = 0;
  float global_base = 0.0f, sliding_base = 0.0f;
  int32_t window = 0;
  for (const auto& layer : c.layers) {
    if (layer.linear) {
      ++linear;
    } else if (layer.sliding_window == 0) {
      ++global;
      global_base = layer.rope_base;
    } else {
      ++sliding;
      sliding_base = layer.rope_base;
      window = layer.sliding_window;
    }
  }
  auto base = [](float b) { return std::to_string(static_cast<int64_t>(b)); };
  std::string out = std::to_string(global) + " global (rope base " + base(global_base) + ")";
  if (sliding > 0) {
    out += ", " + std::to_string(sliding) + " sliding-window of " + std::to_string(window) + " (rope base " +
           base(sliding_base) + ")";
  }
  if (linear > 0) out += ", " + std::to_string(linear) + " linear (gated delta rule)";
  return out;
}

}  // namespace

int run_info(const Args& args) {
  ArgParser p("info");
  p.option("--model", "PATH", "GGUF model file", true);
  p.flag("--json", "print one JSON object instead of text");
  p.option("--block-size", "N", "tokens per KV block for the KV-bytes figure (default 16)");
  add_attention_option(p);
  if (!p.parse(args)) return 0;
  auto file = gguf::GgufFile::open(p.get_string("--model"));
  auto c = model::ModelConfig::from_gguf(*file);
  auto tok = tokenizer::Tokenizer::from_gguf(*file);
  const auto plan = attention::resolve_attention(attention_layout(p), c);
  const auto block_size = static_cast<int32_t>(p.get_int("--block-size", 16, 1, 1024));

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
      {"experts", c.moe.n_experts == 0 ? nlohmann::ordered_json("none")
                                       : nlohmann::ordered_json{{"count", c.moe.n_experts},
                                                                {"used", c.moe.n_used},
                                                                {"feed_forward_length", c.moe.n_ff_expert},
                                                                {"shared_feed_forward_length", c.moe.n_ff_shared},
                                                                {"renormalized", c.moe.renormalize}}},
      {"heads", c.n_heads},
      {"kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"context_length", c.context_length},
      {"vocab_size", c.vocab_size},
      {"attention_layers", describe_attention(c)},
      {"tied_embeddings", c.tied_embeddings},
      {"tokenizer", file->get_string("tokenizer.ggml.model", "")},
      {"bos_token_id", tok->bos_id()},
      {"eos_token_id", tok->eos_id()},
      {"tensor_types", tensor_types},
      {"chat_template", file->has("tokenizer.chat_template")},
      {"cuda_devices", cuda_devices()},
      {"attention", attention::describe_plan(plan)},
      {"kv_bytes_at_context", attention::kv_bytes_at(plan, c, c.context_length, block_size)},
  };
  if (p.has("--json")) {
    std::puts(info.dump().c_str());
    return 0;
  }
  for (const auto& [key, value] : info.items()) {
    std::string text;
    if (key == "tensor_types") {
      for (const auto& [type, count] : tensor_types) text += (text.empty() ? "" : ", ") + type + " x" + std::to_string(count);
    } else if (key == "attention") {
      text = value["layout"].get<std::string>();
      for (const auto& line : attention::describe_plan_lines(plan)) text += "\n  " + line;
    } else if (key == "experts" && value.is_object()) {
      text = std::to_string(c.moe.n_used) + " of " + std::to_string(c.moe.n_experts) + " (width " +
             std::to_string(c.moe.n_ff_expert) + ") + a shared expert (width " + std::to_string(c.moe.n_ff_shared) + ")" +
             (c.moe.renormalize ? ", weights renormalized" : "");
    } else if (key == "kv_bytes_at_context") {
      char figure[160];
      std::snprintf(figure, sizeof figure, "%.1f MiB at %lld tokens (%.1f%% of an all-global layout's %.1f MiB)",
                    value["bytes"].get<double>() / (1 << 20), static_cast<long long>(value["tokens"].get<int64_t>()),
                    100.0 * value["fraction"].get<double>(), value["all_global_bytes"].get<double>() / (1 << 20));
      text = figure;
    } else {
      text = value.is_string() ? value.get<std::string>() : value.dump();
    }
    std::printf("%-20s %s\n", (key + ":").c_str(), text.c_str());
  }
  return 0;
}

}  // namespace strata::cli
