#include "engine/tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>
#include <cstdio>

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

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {}

void SpmTokenizer::encode_text(std::string_view text, bool after_special, std::vector<int32_t>& ids) const {
  std::string escaped = escape_spaces(text);
  if (after_special && vocab().add_space_prefix()) escaped.insert(0, kEscapedSpace);
  // llama.cpp cuts a malformed character as long as its first byte announces, and such a
  // character, being no token, becomes byte tokens.
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

// SentencePiece's BPE: start from single characters and repeatedly merge the adjacent pair
// whose concatenation is the best-scoring vocabulary entry (leftmost on ties); characters that
// end up in no token become byte tokens.
void SpmTokenizer::encode_well_formed(std::string_view text, std::vector<int32_t>& ids) const {
  if (text.empty()) return;
  struct Symbol {
    size_t begin, length;
    int prev, next;  // neighbours in the live list, -1 at the ends
  };
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = valid_utf8_char_length(text.substr(pos));
    symbols.push_back({pos, length, static_cast<int>(symbols.size()) - 1, static_cast<int>(symbols.size()) + 1});
    pos += length;
  }
  symbols.back().next = -1;

  struct Candidate {
    float score;
    int left, right;
    size_t length;  // of the merged text, to detect a candidate made stale by an earlier merge
    bool operator<(const Candidate& o) const { return score < o.score || (score == o.score && left > o.left); }
  };
  std::priority_queue<Candidate> candidates;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols[left].length + symbols[right].length;
    if (const auto id = vocab().find(text.substr(symbols[left].begin, length))) {
      candidates.push({vocab().token(*id).score, left, right, length});
    }
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) consider(static_cast<int>(i), static_cast<int>(i) + 1);
  while (!candidates.empty()) {
    const Candidate c = candidates.top();
    candidates.pop();
    Symbol& left = symbols[static_cast<size_t>(c.left)];
    if (left.length == 0 || left.next != c.right ||
        left.length + symbols[static_cast<size_t>(c.right)].length != c.length) {
      continue;  // one side was merged into something else meanwhile
    }
    Symbol& right = symbols[static_cast<size_t>(c.right)];
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }
  for (int i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& symbol = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(symbol.begin, symbol.length);
    if (const auto id = vocab().find(piece)) {
      ids.push_back(*id);
    } else {
      for (const char byte : piece) ids.push_back(byte_token(static_cast<unsigned char>(byte)));
    }
  }
}

int32_t SpmTokenizer::byte_token(unsigned char byte) const {
  char text[7];
  std::snprintf(text, sizeof text, "<0x%02X>", byte);
  if (const auto id = vocab().find(text)) return *id;
  if (const auto id = vocab().find(std::string_view(reinterpret_cast<const char*>(&byte), 1))) return *id;
  return vocab().unk_id();
}

std::string SpmTokenizer::normal_piece(std::string_view text) const { return unescape_spaces(text); }

}  // namespace strata::tokenizer
