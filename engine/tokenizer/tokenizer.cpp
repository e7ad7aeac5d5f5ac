#include "engine/tokenizer/tokenizer.h"

#include <cstdlib>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/spm_tokenizer.h"

namespace strata::tokenizer {
namespace {

// llama.cpp's defaults for SentencePiece vocabularies.
constexpr VocabDefaults kSpmDefaults = {
    .bos_id = 1, .eos_id = 2, .unk_id = 0, .add_bos = true, .add_eos = false, .add_space_prefix = true,
    .clean_spaces = false};

// llama.cpp's defaults for byte-level BPE vocabularies, some of which the pre-tokenizer decides.
VocabDefaults bpe_defaults(const PreTokenizerType& pre) {
  return {.bos_id = pre.has_default_bos ? 11 : kNoToken,
          .eos_id = 11,
          .unk_id = kNoToken,
          .add_bos = pre.add_bos,
          .add_eos = false,
          .add_space_prefix = false,
          .clean_spaces = pre.clean_spaces};
}

std::unique_ptr<Tokenizer> load(const gguf::GgufFile& file) {
  const std::string model = file.get_string("tokenizer.ggml.model", "");
  if (model == "gpt2") {
    const std::string pre_name = file.get_string("tokenizer.ggml.pre", "default");
    const PreTokenizerType* pre = find_pre_tokenizer_type(pre_name);
    if (pre == nullptr) throw TokenizerError("unknown pre-tokenizer type '" + pre_name + "' (tokenizer.ggml.pre)");
    std::vector<std::string> merges = file.get_string_array("tokenizer.ggml.merges");
    if (merges.empty()) throw TokenizerError("BPE vocabulary without tokenizer.ggml.merges");
    return std::make_unique<BpeTokenizer>(Vocab::from_gguf(file, bpe_defaults(*pre)), *pre,
                                          std::move(merges));
  }
  if (model == "llama") return std::make_unique<SpmTokenizer>(Vocab::from_gguf(file, kSpmDefaults));
  if (model.empty()) throw TokenizerError("GGUF has no tokenizer.ggml.model");
  throw TokenizerError("unsupported tokenizer model '" + model + "' (tokenizer.ggml.model)");
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::GgufFile& file) {
  try {
    return load(file);
  } catch (const gguf::FormatError& e) {
    throw TokenizerError(std::string("bad tokenizer metadata: ") + e.what());
  }
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)), special_tokens_(vocab_) {}

Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> ids;
  if (add_special && vocab_.add_bos()) ids.push_back(vocab_.bos_id());
  bool after_special = true;
  for (const Fragment& fragment : special_tokens_.split(text, parse_special)) {
    if (fragment.is_token()) {
      ids.push_back(fragment.token);
    } else {
      encode_text(fragment.text, after_special, ids);
    }
    after_special = fragment.is_token();
  }
  if (add_special && vocab_.add_eos()) ids.push_back(vocab_.eos_id());
  return ids;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  const Token& token = vocab_.token(id);
  switch (token.type) {
    case TokenType::kControl:
    case TokenType::kUnknown:
    case TokenType::kUserDefined:
      return token.text;
    case TokenType::kNormal:
      return normal_piece(token.text);
    case TokenType::kByte:  // "<0xXX>"
      return std::string(1, static_cast<char>(std::strtol(token.text.substr(3, 2).c_str(), nullptr, 16)));
    default:
      return {};
  }
}

std::string Tokenizer::decode_piece(int32_t id, bool first) const {
  const TokenType type = vocab_.token(id).type;
  if (type == TokenType::kControl || type == TokenType::kUnknown) return {};
  std::string piece = token_to_piece(id);
  if (first && vocab_.add_space_prefix() && piece.starts_with(' ')) piece.erase(0, 1);
  return piece;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) text += decode_piece(ids[i], i == 0);
  return vocab_.clean_spaces() ? clean_up_spaces(text) : text;
}

}  // namespace strata::tokenizer
