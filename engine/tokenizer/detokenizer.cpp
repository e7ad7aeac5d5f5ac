#include "engine/tokenizer/detokenizer.h"

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace strata::tokenizer {
namespace {

// Every clean-up rule looks at most this many bytes past the space it may drop.
constexpr size_t kCleanUpReach = 3;

bool is_sentence_punctuation(char c) { return c == '?' || c == '!' || c == '.' || c == ','; }

// " ?" -> "?" for ? ! . ,
std::string drop_space_before_punctuation(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (i > 0 && text[i - 1] == ' ' && is_sentence_punctuation(text[i])) out.pop_back();
    out += text[i];
  }
  return out;
}

// " ' " -> "'". llama.cpp blanks the consumed second space in place, so the character after it
// never counts as following a space.
std::string drop_spaces_around_apostrophe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char previous = '\0';
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i > 0 && c == '\'' && previous == ' ' && i + 1 < text.size() && text[i + 1] == ' ') {
      out.pop_back();
      out += c;
      ++i;
      previous = '\0';
      continue;
    }
    out += c;
    previous = c;
  }
  return out;
}

// " 's" -> "'s", likewise 'm 're 've; " 't" " 'd" " 'll" keep their space.
std::string drop_space_before_contraction(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i > 0 && c == '\'' && text[i - 1] == ' ' && i + 1 < text.size()) {
      const char next = text[i + 1];
      const char after_next = i + 2 < text.size() ? text[i + 2] : '\0';
      if (next == 's' || next == 'm' || ((next == 'r' || next == 'v') && after_next == 'e')) out.pop_back();
    }
    out += c;
  }
  return out;
}

// The end of the longest prefix of `text[0, limit)` that clean_up_spaces can handle apart from
// what follows: none of the three bytes before that end is a space, as every rule looks at most
// three bytes past a space. What was returned before ends in three non-spaces the same way.
size_t clean_up_boundary(std::string_view text, size_t limit) {
  size_t boundary = limit;
  for (size_t i = limit; i-- > 0 && boundary - i <= kCleanUpReach;) {
    if (text[i] == ' ') boundary = i;
  }
  return boundary;
}

}  // namespace

std::string clean_up_spaces(std::string_view text) {
  return drop_space_before_contraction(drop_spaces_around_apostrophe(drop_space_before_punctuation(text)));
}

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  pending_ += tokenizer_.decode_piece(id, at_start_);
  at_start_ = false;

  const std::string_view pending = pending_;
  size_t ready = complete_utf8_prefix_length(pending);
  std::string out;
  if (tokenizer_.vocab().clean_spaces()) {
    ready = clean_up_boundary(pending, ready);
    out = clean_up_spaces(pending.substr(0, ready));
  } else {
    out = pending.substr(0, ready);
  }
  pending_.erase(0, ready);
  return out;
}

std::string IncrementalDetokenizer::flush() {
  std::string out = tokenizer_.vocab().clean_spaces() ? clean_up_spaces(pending_) : std::move(pending_);
  pending_.clear();
  at_start_ = true;
  return out;
}

}  // namespace strata::tokenizer
