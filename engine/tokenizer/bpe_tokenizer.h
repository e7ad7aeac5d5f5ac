// Byte-level BPE (tokenizer.ggml.model "gpt2"): pre-tokenize with the model's regexes, map
// every byte to its GPT-2 stand-in character, then apply the merges lowest rank first.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace strata::tokenizer {

class BpeTokenizer final : public Tokenizer {
 public:
  // `merges` are tokenizer.ggml.merges: "left right", highest priority first.
  BpeTokenizer(Vocab vocab, const PreTokenizerType& pre, std::vector<std::string> merges);


 private:
  std::string normal_piece(std::string_view text) const override;
  using MergePair = std::pair<std::string_view, std::string_view>;
  struct MergePairHash {
    size_t operator()(const MergePair& pair) const;
  };

  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& ids) const override;
  void encode_word(std::string_view word, std::vector<int32_t>& ids) const;
  int merge_rank(std::string_view left, std::string_view right) const;  // -1 when they never merge

  PreTokenizer pre_tokenizer_;
  bool ignore_merges_;
  std::vector<std::string> merges_;                             // owns the texts merge_ranks_ views
  std::unordered_map<MergePair, int, MergePairHash> merge_ranks_;
};

}  // namespace strata::tokenizer
