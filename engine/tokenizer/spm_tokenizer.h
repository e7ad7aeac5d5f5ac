// SentencePiece vocabularies (tokenizer.ggml.model "llama"): SentencePiece's BPE merges by
// score over the GGUF vocabulary, with byte fallback, as llama.cpp runs them.
//
// Not through the sentencepiece library: Debian's libsentencepiece bundles protobuf-lite and
// exports its symbols, which crashes any process that also loads libprotobuf (gRPC needs it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace strata::tokenizer {

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);


 private:
  std::string normal_piece(std::string_view text) const override;
  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& ids) const override;
  void encode_well_formed(std::string_view text, std::vector<int32_t>& ids) const;
  int32_t byte_token(unsigned char byte) const;
};

}  // namespace strata::tokenizer
