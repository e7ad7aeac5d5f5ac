// The tokenizer's public API: text <-> token ids for a model's GGUF vocabulary, giving the same
// ids as llama.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/special_tokens.h"
#include "engine/tokenizer/tokenizer_error.h"
#include "engine/tokenizer/vocab.h"

namespace strata::gguf {
class GgufFile;
}

namespace strata::tokenizer {

// Immutable once made: every method may be called from several threads at once.
class Tokenizer {
 public:
  // Byte-level BPE ("gpt2") or SentencePiece ("llama") vocabularies. Throws TokenizerError for
  // other tokenizer models, an unknown tokenizer.ggml.pre, or inconsistent metadata.
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::GgufFile& file);

  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: put BOS before / EOS after the text where the vocabulary says so
  // (tokenizer.ggml.add_bos_token / add_eos_token, else llama.cpp's default for the type).
  // parse_special: text spelling a control token (e.g. "<|im_start|>") becomes that token;
  // user-defined tokens are always recognised.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes `id` stands for; control and other special tokens give their text. Not always
  // valid UTF-8 on its own (byte tokens, parts of characters). The piece, decode_piece() and
  // decode() throw TokenizerError for an id outside the vocabulary.
  std::string token_to_piece(int32_t id) const;

  // What `id` contributes to decode(): its piece, but nothing for control and unknown tokens,
  // and the first piece of a sequence loses its leading space where the vocabulary adds a space
  // prefix.
  std::string decode_piece(int32_t id, bool first) const;

  // llama.cpp's llama_detokenize(remove_special=false, unparse_special=false): the pieces of
  // `ids` with control tokens left out, the first leading space dropped where the vocabulary
  // adds a space prefix, and spaces cleaned up where it says so.
  std::string decode(std::span<const int32_t> ids) const;

  int32_t vocab_size() const { return vocab_.size(); }
  int32_t bos_id() const { return vocab_.bos_id(); }  // kNoToken if none
  int32_t eos_id() const { return vocab_.eos_id(); }  // kNoToken if none
  int32_t eot_id() const { return vocab_.eot_id(); }  // kNoToken if none
  // EOS, EOT and the other tokens that end a turn (llama_vocab_is_eog).
  bool is_end_of_generation(int32_t id) const { return vocab_.is_end_of_generation(id); }
  std::optional<int32_t> find_token(std::string_view text) const { return vocab_.find(text); }
  const Vocab& vocab() const { return vocab_; }

 protected:
  explicit Tokenizer(Vocab vocab);

 private:
  // The bytes a normal token's text stands for (byte-level or space-escaped spelling undone).
  virtual std::string normal_piece(std::string_view text) const = 0;
  // Appends the ids of `text`, which holds no special token; `after_special` is true at the
  // start of the input and right after a special token.
  virtual void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& ids) const = 0;

  const Vocab vocab_;
  const SpecialTokenSplitter special_tokens_;
};

// Turns a stream of generated ids into text without ever cutting a UTF-8 character; the
// concatenation of everything push() and flush() return equals decode() of all the ids. One per
// stream; `tokenizer` must outlive it.
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer);

  // The text that `id` completes; bytes that a later token may still change stay held back.
  std::string push(int32_t id);
  // Everything held back; the next push() starts a new sequence.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;  // decoded but not yet returned
  bool at_start_ = true;
};

}  // namespace strata::tokenizer
