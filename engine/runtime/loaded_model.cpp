#include "engine/runtime/loaded_model.h"

#include "engine/model/cpu_model_runner.h"

namespace strata::runtime {

LoadedModel LoadedModel::load(const std::string& path, int n_threads, const attention::AttentionLayout& layout) {
  LoadedModel m;
  m.file = gguf::GgufFile::open(path);
  m.tokenizer = tokenizer::Tokenizer::from_gguf(*m.file);
  m.model = std::make_unique<model::DecoderModel>(*m.file, n_threads, layout);
  m.chat_template = m.file->get_string("tokenizer.chat_template", "");
  m.make_runner = model::cpu_runner_factory(*m.model);
  return m;
}

}  // namespace strata::runtime
