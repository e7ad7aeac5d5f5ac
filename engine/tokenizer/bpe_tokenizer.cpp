#include "engine/tokenizer/bpe_tokenizer.h"

#include <array>
#include <cstdio>
#include <queue>

#include "engine/tokenizer/utf8.h"

namespace strata::tokenizer {
namespace {

// GPT-2's reversible byte <-> character mapping: printable Latin-1 bytes stand for themselves,
// the others (controls, space, ...) for U+0100 onwards, so that no token text holds whitespace
// or control characters.
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet() {
    char32_t next_stand_in = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
      const char32_t character = printable ? static_cast<char32_t>(byte) : next_stand_in++;
      append_utf8(characters_[static_cast<size_t>(byte)], character);
      bytes_by_character_[character] = static_cast<unsigned char>(byte);
    }
  }

  const std::string& character(unsigned char byte) const { return characters_[byte]; }

  // -1 for characters that stand for no byte.
  int byte(char32_t character) const {
    const auto it = bytes_by_character_.find(character);
    return it == bytes_by_character_.end() ? -1 : it->second;
  }

 private:
  std::array<std::string, 256> characters_;
  std::unordered_map<char32_t, unsigned char> bytes_by_character_;
};

const ByteLevelAlphabet& byte_level_alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

// The bytes a normal token's text stands for. A character outside the alphabet gives
// llama.cpp's "[UNK_BYTE_0x...]" marker.
std::string decode_byte_level(std::string_view text) {
  const ByteLevelAlphabet& alphabet = byte_level_alphabet();
  std::string bytes;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const int byte = alphabet.byte(decode_utf8(text, pos));
    if (byte >= 0) {
      bytes += static_cast<char>(byte);
      continue;
    }
    bytes += "[UNK_BYTE_0x";
    for (size_t i = start; i < pos; ++i) {
      char hex[3];
      std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(text[i]));
      bytes += hex;
    }
    bytes += std::string(text) + "]";
  }
  return bytes;
}

struct Symbol {
  size_t offset;  // into the byte-level word
  size_t length;  // 0 once merged into the symbol before it
  int prev;
  int next;
};

struct Bigram {
  int rank;
  int left;
  int right;
  size_t length;  // of the merged text; a mismatch later means the bigram is stale
};

// Lowest rank first, then leftmost.
struct LaterBigram {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

size_t BpeTokenizer::MergePairHash::operator()(const MergePair& pair) const {
  const size_t left = std::hash<std::string_view>{}(pair.first);
  return left ^ (std::hash<std::string_view>{}(pair.second) + 0x9e3779b97f4a7c15ULL + (left << 6) + (left >> 2));
}

BpeTokenizer::BpeTokenizer(Vocab vocab, const PreTokenizerType& pre, std::vector<std::string> merges)
    : Tokenizer(std::move(vocab)),
      pre_tokenizer_(pre.patterns),
      ignore_merges_(pre.ignore_merges),
      merges_(std::move(merges)) {
  merge_ranks_.reserve(merges_.size());
  for (size_t rank = 0; rank < merges_.size(); ++rank) {
    const std::string_view merge = merges_[rank];
    // Split at the first space after the first character, as llama.cpp does.
    const size_t space = merge.find(' ', 1);
    if (space == std::string_view::npos) continue;
    // The first occurrence of a pair keeps its rank.
    merge_ranks_.try_emplace(MergePair(merge.substr(0, space), merge.substr(space + 1)), static_cast<int>(rank));
  }
}

int BpeTokenizer::merge_rank(std::string_view left, std::string_view right) const {
  const auto it = merge_ranks_.find(MergePair(left, right));
  return it == merge_ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::encode_text(std::string_view text, bool /*after_special*/, std::vector<int32_t>& ids) const {
  const std::string well_formed = replace_invalid_utf8(text);
  for (std::string_view word : pre_tokenizer_.split(well_formed)) encode_word(word, ids);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& ids) const {
  const ByteLevelAlphabet& alphabet = byte_level_alphabet();
  std::string byte_level;
  byte_level.reserve(word.size() * 2);
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (const char byte : word) {
    const std::string& character = alphabet.character(static_cast<unsigned char>(byte));
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({byte_level.size(), character.size(), index - 1, index + 1});
    byte_level += character;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  if (ignore_merges_) {
    if (const auto id = vocab().find(byte_level)) {
      ids.push_back(*id);
      return;
    }
  }

  const std::string_view text = byte_level;
  const auto symbol_text = [&](const Symbol& symbol) { return text.substr(symbol.offset, symbol.length); };
  std::priority_queue<Bigram, std::vector<Bigram>, LaterBigram> queue;
  const auto add_bigram = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& a = symbols[static_cast<size_t>(left)];
    const Symbol& b = symbols[static_cast<size_t>(right)];
    const int rank = merge_rank(symbol_text(a), symbol_text(b));
    if (rank >= 0) queue.push({rank, left, right, a.length + b.length});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    add_bigram(left.prev, bigram.left);
    add_bigram(bigram.left, left.next);
  }

  for (const Symbol& symbol : symbols) {
    if (symbol.length == 0) continue;
    const std::string_view piece = symbol_text(symbol);
    if (const auto id = vocab().find(piece)) {
      ids.push_back(*id);
      continue;
    }
    // A merge result missing from the vocabulary: llama.cpp keeps only those of its bytes
    // that are tokens by themselves.
    for (const char byte : piece) {
      if (const auto id = vocab().find(std::string_view(&byte, 1))) ids.push_back(*id);
    }
  }
}

std::string BpeTokenizer::normal_piece(std::string_view text) const { return decode_byte_level(text); }

}  // namespace strata::tokenizer
