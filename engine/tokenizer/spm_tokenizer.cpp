#include "engine/tokenizer/spm_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "engine/tokenizer/sentencepiece_model.h"
#include "engine/tokenizer/utf8.h"

namespace strata::tokenizer {
namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == ' ') {
      out += kEscapedSpace;
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.substr(pos).starts_with(kEscapedSpace)) {
      out += ' ';
      pos += kEscapedSpace.size();
    } else {
      out += text[pos++];
    }
  }
  return out;
}

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab)
    : Tokenizer(std::move(vocab)), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->LoadFromSerializedProto(serialize_sentencepiece_model(this->vocab()));
  if (!status.ok()) throw TokenizerError("sentencepiece rejects the vocabulary: " + status.ToString());
}

SpmTokenizer::~SpmTokenizer() = default;

void SpmTokenizer::encode_text(std::string_view text, bool after_special, std::vector<int32_t>& ids) const {
  std::string escaped = escape_spaces(text);
  if (after_special && vocab().add_space_prefix()) escaped.insert(0, kEscapedSpace);
  // sentencepiece would turn malformed UTF-8 into U+FFFD. llama.cpp cuts a character as long as
  // its first byte announces, and such a character, being no token, becomes byte tokens.
  const std::string_view input = escaped;
  size_t run_start = 0;
  size_t pos = 0;
  while (pos < input.size()) {
    if (const size_t length = valid_utf8_char_length(input.substr(pos)); length > 0) {
      pos += length;
      continue;
    }
    encode_well_formed(input.substr(run_start, pos - run_start), ids);
    const size_t length = std::min(utf8_sequence_length(static_cast<unsigned char>(input[pos])), input.size() - pos);
    for (const char byte : input.substr(pos, length)) ids.push_back(byte_token(static_cast<unsigned char>(byte)));
    pos += length;
    run_start = pos;
  }
  encode_well_formed(input.substr(run_start), ids);
}

void SpmTokenizer::encode_well_formed(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  std::vector<int> pieces;
  const auto status = processor_->Encode(text, &pieces);
  if (!status.ok()) throw TokenizerError("sentencepiece cannot encode the text: " + status.ToString());
  for (const int id : pieces) ids.push_back(id == vocab().size() ? vocab().unk_id() : id);
}

int32_t SpmTokenizer::byte_token(unsigned char byte) const {
  char text[7];
  std::snprintf(text, sizeof text, "<0x%02X>", byte);
  if (const auto id = vocab().find(text)) return *id;
  if (const auto id = vocab().find(std::string_view(reinterpret_cast<const char*>(&byte), 1))) return *id;
  return vocab().unk_id();
}

std::string SpmTokenizer::token_to_piece(int32_t id) const {
  const Token& token = vocab().token(id);
  switch (token.type) {
    case TokenType::kControl:
    case TokenType::kUnknown:
    case TokenType::kUserDefined:
      return token.text;
    case TokenType::kNormal:
      return unescape_spaces(token.text);
    case TokenType::kByte:
      // "<0xXX>"
      return std::string(1, static_cast<char>(std::strtol(token.text.substr(3, 2).c_str(), nullptr, 16)));
    default:
      return {};
  }
}

}  // namespace strata::tokenizer
