#include "engine/tokenizer/utf8.h"

namespace strata::tokenizer {
namespace {

constexpr char32_t kReplacementCharacter = 0xFFFD;

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

size_t valid_utf8_char_length(std::string_view text) {
  if (text.empty()) return 0;
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char min_second = 0x80;
  unsigned char max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < min_second || byte(1) > max_second) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!is_continuation(byte(i))) return 0;
  }
  return length;
}

std::string replace_invalid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = valid_utf8_char_length(text.substr(pos));
    if (length == 0) {
      append_utf8(out, kReplacementCharacter);
      ++pos;
    } else {
      out.append(text.substr(pos, length));
      pos += length;
    }
  }
  return out;
}

size_t complete_utf8_prefix_length(std::string_view text) {
  // Only the last three bytes can belong to a character still waiting for bytes.
  const size_t earliest = text.size() > 3 ? text.size() - 3 : 0;
  for (size_t start = text.size(); start-- > earliest;) {
    const auto byte = static_cast<unsigned char>(text[start]);
    if (is_continuation(byte)) continue;
    const bool waiting = byte >= 0xC0 && start + utf8_sequence_length(byte) > text.size();
    return waiting ? start : text.size();
  }
  return text.size();
}

char32_t decode_utf8(std::string_view text, size_t& pos) {
  const size_t length = valid_utf8_char_length(text.substr(pos));
  if (length == 0) {
    ++pos;
    return kReplacementCharacter;
  }
  const auto byte = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[pos + i])); };
  char32_t codepoint = 0;
  switch (length) {
    case 1: codepoint = byte(0); break;
    case 2: codepoint = ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F); break;
    case 3: codepoint = ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F); break;
    default:
      codepoint = ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
  pos += length;
  return codepoint;
}

}  // namespace strata::tokenizer
