// Splitting text on the special tokens spelled out in it, before the text is tokenized.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/vocab.h"

namespace strata::tokenizer {

// Either a special token or a run of text to tokenize.
struct Fragment {
  int32_t token = kNoToken;
  std::string_view text;  // empty for a token
  bool is_token() const { return token != kNoToken; }
};

class SpecialTokenSplitter {
 public:
  explicit SpecialTokenSplitter(const Vocab& vocab);

  // User-defined tokens are always split out; control and unknown tokens only when
  // `parse_special`. Like llama.cpp, longer tokens are split out first and every occurrence
  // counts, left to right. The fragments view `text`.
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct SpecialToken {
    int32_t id;
    std::string text;
    bool only_when_parsing_special;
  };
  std::vector<SpecialToken> tokens_;  // longest text first
};

}  // namespace strata::tokenizer
