// A tokenizer vocabulary read from GGUF metadata (tokenizer.ggml.*), with the special-token
// ids, end-of-generation set and add-BOS/EOS flags resolved the way llama.cpp resolves them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata::gguf {
class GgufFile;
}

namespace strata::tokenizer {

inline constexpr int32_t kNoToken = -1;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct Token {
  std::string text;
  float score = 0.0F;
  TokenType type = TokenType::kNormal;
};

// What a vocabulary assumes where its metadata is silent; depends on the tokenizer model and,
// for BPE, on the pre-tokenizer type.
struct VocabDefaults {
  int32_t bos_id = kNoToken;
  int32_t eos_id = kNoToken;
  int32_t unk_id = kNoToken;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool clean_spaces = false;
};

class Vocab {
 public:
  // Throws TokenizerError when the token list is missing, scores or types do not match it in
  // length, a token text repeats, or BOS/EOS must be added but does not exist.
  static Vocab from_gguf(const gguf::GgufFile& file, const VocabDefaults& defaults);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  // Throws TokenizerError when `id` is out of range.
  const Token& token(int32_t id) const;
  std::optional<int32_t> find(std::string_view text) const;

  // kNoToken where the vocabulary has none.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t eot_id() const { return eot_id_; }
  int32_t unk_id() const { return unk_id_; }

  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // SentencePiece: a space is put before text at the start and after every special token, and
  // decoding drops the first token's leading space.
  bool add_space_prefix() const { return add_space_prefix_; }
  // Decoding removes the space before ? ! . , and before some apostrophe contractions.
  bool clean_spaces() const { return clean_spaces_; }

  bool is_end_of_generation(int32_t id) const;
  const std::vector<int32_t>& end_of_generation_ids() const { return end_of_generation_ids_; }

 private:
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };

  void resolve_special_tokens(const gguf::GgufFile& file);
  int32_t find_first_of(std::span<const std::string_view> texts) const;
  void make_control(int32_t id);

  std::vector<Token> tokens_;
  std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> ids_by_text_;
  int32_t bos_id_ = kNoToken;
  int32_t eos_id_ = kNoToken;
  int32_t eot_id_ = kNoToken;
  int32_t unk_id_ = kNoToken;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  bool clean_spaces_ = false;
  std::vector<int32_t> end_of_generation_ids_;  // sorted
};

}  // namespace strata::tokenizer
