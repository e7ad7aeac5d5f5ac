// Pre-tokenization for byte-level BPE: the regular expressions llama.cpp uses for each value of
// tokenizer.ggml.pre, run with PCRE2.
#pragma once

#include <string_view>
#include <vector>

namespace strata::tokenizer {

// One pre-tokenizer type and what llama.cpp ties to it.
struct PreTokenizerType {
  std::vector<std::string_view> names;     // values of tokenizer.ggml.pre
  std::vector<std::string_view> patterns;  // applied in order
  bool clean_spaces = true;                // see Vocab::clean_spaces
  bool ignore_merges = false;              // a word that is itself a token is not merged
  bool add_bos = false;                    // default when tokenizer.ggml.add_bos_token is absent
  bool has_default_bos = true;             // false: no BOS unless the metadata names one
};

// nullptr when llama.cpp does not know `name`.
const PreTokenizerType* find_pre_tokenizer_type(std::string_view name);

// Every known type, for tests.
const std::vector<PreTokenizerType>& pre_tokenizer_types();

class PreTokenizer {
 public:
  // Throws TokenizerError when a pattern does not compile.
  explicit PreTokenizer(const std::vector<std::string_view>& patterns);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits well-formed UTF-8 `text` into words (views into `text`). Each pattern in turn splits
  // every piece the previous ones left: its matches and the text between them all become pieces.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  class Pattern;
  std::vector<Pattern> patterns_;
};

}  // namespace strata::tokenizer
