#include "engine/tokenizer/special_tokens.h"

#include <algorithm>
#include <bitset>
#include <memory>

namespace strata::tokenizer {
namespace {

// The bytes and byte pairs that occur in a text: vocabularies have thousands of special tokens
// (Gemma 6,400), and this rules out nearly all of them without searching the text for each.
class BytePairs {
 public:
  explicit BytePairs(std::string_view text) {
    for (size_t i = 0; i < text.size(); ++i) {
      bytes_.set(byte(text, i));
      if (i + 1 < text.size()) pairs_->set(pair(text, i));
    }
  }

  bool may_contain(std::string_view needle) const {
    if (needle.size() == 1) return bytes_.test(byte(needle, 0));
    for (size_t i = 0; i + 1 < needle.size(); ++i) {
      if (!pairs_->test(pair(needle, i))) return false;
    }
    return true;
  }

 private:
  static size_t byte(std::string_view text, size_t i) { return static_cast<unsigned char>(text[i]); }
  static size_t pair(std::string_view text, size_t i) { return byte(text, i) << 8 | byte(text, i + 1); }

  std::bitset<256> bytes_;
  std::unique_ptr<std::bitset<65536>> pairs_ = std::make_unique<std::bitset<65536>>();
};

bool contains(const std::vector<Fragment>& fragments, std::string_view text) {
  return std::any_of(fragments.begin(), fragments.end(), [&](const Fragment& fragment) {
    return !fragment.is_token() && fragment.text.find(text) != std::string_view::npos;
  });
}

}  // namespace

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) {
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const Token& token = vocab.token(id);
    switch (token.type) {
      case TokenType::kControl:
      case TokenType::kUnknown:
        tokens_.push_back({id, token.text, true});
        break;
      case TokenType::kUserDefined:
        tokens_.push_back({id, token.text, false});
        break;
      default:
        break;
    }
  }
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const SpecialToken& a, const SpecialToken& b) {
    return a.text.size() > b.text.size();
  });
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({kNoToken, text});
  const BytePairs byte_pairs(text);
  std::vector<Fragment> next;
  for (const SpecialToken& special : tokens_) {
    if (special.only_when_parsing_special && !parse_special) continue;
    if (!byte_pairs.may_contain(special.text) || !contains(fragments, special.text)) continue;
    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.is_token()) {
        next.push_back(fragment);
        continue;
      }
      size_t start = 0;
      for (size_t match = fragment.text.find(special.text); match != std::string_view::npos;
           match = fragment.text.find(special.text, start)) {
        if (match > start) next.push_back({kNoToken, fragment.text.substr(start, match - start)});
        next.push_back({special.id, {}});
        start = match + special.text.size();
      }
      if (start < fragment.text.size()) next.push_back({kNoToken, fragment.text.substr(start)});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace strata::tokenizer
