// SentencePiece vocabularies (tokenizer.ggml.model "llama"), encoded by the sentencepiece
// library from a model built out of the GGUF vocabulary.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace strata::tokenizer {

class SpmTokenizer final : public Tokenizer {
 public:
  // Throws TokenizerError when sentencepiece rejects the vocabulary.
  explicit SpmTokenizer(Vocab vocab);
  ~SpmTokenizer() override;

  std::string token_to_piece(int32_t id) const override;

 private:
  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& ids) const override;
  void encode_well_formed(std::string_view text, std::vector<int32_t>& ids) const;
  int32_t byte_token(unsigned char byte) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace strata::tokenizer
