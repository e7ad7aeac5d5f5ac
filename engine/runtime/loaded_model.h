// A model file opened for inference: the mapping, its tokenizer, chat template and weights.
#pragma once

#include <memory>
#include <string>

#include "engine/attention/attention_layout.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/decoder_model.h"
#include "engine/model/model_runner.h"
#include "engine/tokenizer/tokenizer.h"

namespace strata::runtime {

struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<model::DecoderModel> model;
  std::string chat_template;  // tokenizer.chat_template; empty when the file has none
  // Where forwards run: the CPU model by default; a front end may point it at a GPU backend.
  model::ModelRunnerFactory make_runner;

  // Opens `path` and loads everything, each layer's attention as `layout` chooses (none: every
  // layer `full`); throws with a one-line reason on any defect or a layout that does not fit.
  static LoadedModel load(const std::string& path, int n_threads, const attention::AttentionLayout& layout = {});
};

}  // namespace strata::runtime
