#include "engine/chat/jinja_lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_unicode.h"

namespace strata::chat {
namespace {

// jinja2 turns "\r\n" and "\r" into "\n" and drops one trailing newline.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_all_space(std::string_view text) { return unicode::skip_spaces(text, 0) == text.size(); }

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's "unicode-escape" decoding, which jinja2 applies to string literals; escapes Python
// does not know are kept verbatim, backslash included.
std::string unescape_string_literal(std::string_view body, int line) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char c = body[++i];
    switch (c) {
      case '\n': break;  // line continuation
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        const std::size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        char32_t code_point = 0;
        for (std::size_t k = 1; k <= digits; ++k) {
          const int v = i + k < body.size() ? hex_value(body[i + k]) : -1;
          if (v < 0) throw ChatTemplateError("truncated \\" + std::string(1, c) + " escape in string at line " + std::to_string(line));
          code_point = code_point * 16 + static_cast<char32_t>(v);
        }
        if (code_point > 0x10FFFF) throw ChatTemplateError("illegal Unicode character in string at line " + std::to_string(line));
        unicode::append(out, code_point);
        i += digits;
        break;
      }
      case 'N': throw ChatTemplateError("unsupported \\N{...} escape in string at line " + std::to_string(line));
      default:
        if (c >= '0' && c <= '7') {
          char32_t code_point = 0;
          std::size_t k = 0;
          while (k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7') {
            code_point = code_point * 8 + static_cast<char32_t>(body[i + k] - '0');
            ++k;
          }
          unicode::append(out, code_point);
          i += k - 1;
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const std::size_t open = find_tag_open(pos_);
      if (open == std::string::npos) {
        emit_data(src_.substr(pos_));
        advance_to(src_.size());
        break;
      }
      lex_tag(open);
    }
    tokens_.push_back(Token{TokenKind::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw ChatTemplateError(message + " at line " + std::to_string(line_));
  }

  std::size_t find_tag_open(std::size_t from) const {
    for (std::size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
    }
    return std::string::npos;
  }

  bool starts_with_at(std::size_t p, std::string_view text) const {
    return src_.compare(p, text.size(), text) == 0;
  }

  // Moves the cursor, counting the newlines passed, and remembers whether what was consumed
  // ended a line (lstrip_blocks also applies to a tag at the start of the next line).
  void advance_to(std::size_t new_pos) {
    for (std::size_t p = pos_; p < new_pos; ++p) {
      if (src_[p] == '\n') ++line_;
    }
    if (new_pos > pos_) line_starting_ = src_[new_pos - 1] == '\n';
    pos_ = new_pos;
  }

  void emit(TokenKind kind, std::string text) { tokens_.push_back(Token{kind, std::move(text), line_}); }

  void emit_data(std::string text) {
    if (!text.empty()) emit(TokenKind::kData, std::move(text));
  }

  // Applies the whitespace control of a tag opener to the text before it: "-" strips all
  // whitespace; otherwise lstrip_blocks drops spaces between the line start and a block or
  // comment tag, unless the opener says "+".
  std::string strip_before_tag(std::string text, char sign, bool lstrip_applies) const {
    if (sign == '-') return unicode::strip(text, nullptr, false, true);
    if (sign == '+' || !lstrip_applies) return text;
    const std::size_t line_start = text.rfind('\n') + 1;  // 0 when there is no newline
    if ((line_start > 0 || line_starting_) && is_all_space(std::string_view(text).substr(line_start))) {
      text.erase(line_start);
    }
    return text;
  }

  // The position after a tag closer at `close_end`: "-" swallows the following whitespace,
  // a plain block or comment closer swallows one newline (trim_blocks).
  std::size_t after_tag_close(std::size_t close_end, char sign, bool trims_newline) const {
    if (sign == '-') return unicode::skip_spaces(src_, close_end);
    if (sign == 0 && trims_newline && close_end < src_.size() && src_[close_end] == '\n') return close_end + 1;
    return close_end;
  }

  char sign_at(std::size_t p) const {
    return p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : 0;
  }

  void lex_tag(std::size_t open) {
    const char type = src_[open + 1];
    const char sign = sign_at(open + 2);
    std::string text = src_.substr(pos_, open - pos_);
    emit_data(strip_before_tag(std::move(text), sign, type != '{'));
    advance_to(open);
    const std::size_t body = open + 2 + (sign != 0 ? 1 : 0);
    if (type == '#') {
      lex_comment(body);
    } else if (type == '%' && lex_raw(body)) {
      return;
    } else {
      emit(type == '%' ? TokenKind::kBlockBegin : TokenKind::kVariableBegin, "");
      advance_to(body);
      lex_tag_body(type == '%');
    }
  }

  void lex_comment(std::size_t body) {
    const std::size_t close = src_.find("#}", body);
    if (close == std::string::npos) fail("missing end of comment tag");
    const char sign = close > body ? sign_at(close - 1) : 0;
    advance_to(after_tag_close(close + 2, sign, true));
  }

  // Matches `\s*keyword\s*` then a block closer at p; returns the position after the closer
  // (before any whitespace control) or npos, and the closer's sign.
  std::size_t match_keyword_tag(std::size_t p, std::string_view keyword, char& close_sign) const {
    p = unicode::skip_spaces(src_, p);
    if (!starts_with_at(p, keyword)) return std::string::npos;
    p = unicode::skip_spaces(src_, p + keyword.size());
    close_sign = sign_at(p);
    if (close_sign != 0) ++p;
    return starts_with_at(p, "%}") ? p + 2 : std::string::npos;
  }

  // {% raw %}...{% endraw %}: the body is data. Returns false when the tag is not raw.
  bool lex_raw(std::size_t body) {
    char open_sign = 0;
    const std::size_t open_end = match_keyword_tag(body, "raw", open_sign);
    if (open_end == std::string::npos || open_sign == '+') return false;
    // jinja2 applies "-" but not trim_blocks after {% raw %}.
    advance_to(open_sign == '-' ? unicode::skip_spaces(src_, open_end) : open_end);
    for (std::size_t p = src_.find("{%", pos_); p != std::string::npos; p = src_.find("{%", p + 1)) {
      const char sign = sign_at(p + 2);
      char close_sign = 0;
      const std::size_t close_end = match_keyword_tag(p + 2 + (sign != 0 ? 1 : 0), "endraw", close_sign);
      if (close_end == std::string::npos) continue;
      emit_data(strip_before_tag(src_.substr(pos_, p - pos_), sign, true));
      advance_to(after_tag_close(close_end, close_sign, true));
      return true;
    }
    fail("missing end of raw directive");
  }

  // The tokens of an expression or statement up to its closer, which only counts outside
  // brackets (so "}}" can close two dict literals).
  void lex_tag_body(bool is_block) {
    std::string brackets;
    while (true) {
      advance_to(unicode::skip_spaces(src_, pos_));
      if (pos_ >= src_.size()) fail(is_block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
      if (brackets.empty() && lex_tag_close(is_block)) return;
      const char c = src_[pos_];
      if (is_name_start(c)) {
        std::size_t end = pos_;
        while (end < src_.size() && is_name_char(src_[end])) ++end;
        emit(TokenKind::kName, src_.substr(pos_, end - pos_));
        advance_to(end);
      } else if (is_digit(c)) {
        lex_number();
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        lex_operator(brackets);
      }
    }
  }

  bool lex_tag_close(bool is_block) {
    const char sign = sign_at(pos_);
    const std::string_view closer = is_block ? "%}" : "}}";
    if (!starts_with_at(pos_ + (sign != 0 ? 1 : 0), closer)) return false;
    if (sign == '+' && !is_block) return false;
    emit(is_block ? TokenKind::kBlockEnd : TokenKind::kVariableEnd, "");
    advance_to(after_tag_close(pos_ + closer.size() + (sign != 0 ? 1 : 0), sign, is_block));
    return true;
  }

  // `\d+(_\d+)*` from p; returns p when there is no digit.
  std::size_t scan_digits(std::size_t p) const {
    if (p >= src_.size() || !is_digit(src_[p])) return p;
    while (p < src_.size() && is_digit(src_[p])) {
      ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) ++p;
    }
    return p;
  }

  // The end of a float literal starting at pos_, or npos. A float cannot follow a dot, so
  // `x.0.1` stays attribute access.
  std::size_t scan_float() const {
    if (pos_ > 0 && src_[pos_ - 1] == '.') return std::string::npos;
    std::size_t p = scan_digits(pos_);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
      p = scan_digits(p + 1);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      std::size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      const std::size_t exponent_end = scan_digits(q);
      if (exponent_end > q) {
        p = exponent_end;
        is_float = true;
      }
    }
    return is_float ? p : std::string::npos;
  }

  void lex_number() {
    auto without_underscores = [](std::string_view text) {
      std::string digits;
      for (char c : text) {
        if (c != '_') digits += c;
      }
      return digits;
    };
    const std::size_t float_end = scan_float();
    if (float_end != std::string::npos) {
      Token token{TokenKind::kFloat, src_.substr(pos_, float_end - pos_), line_};
      token.number = std::strtod(without_underscores(token.text).c_str(), nullptr);
      tokens_.push_back(std::move(token));
      advance_to(float_end);
      return;
    }
    int base = 10;
    std::size_t digits_start = pos_;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size()) {
      const char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[pos_ + 1])));
      base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 10;
      if (base != 10) digits_start = pos_ + 2;
    }
    std::size_t end = digits_start;
    while (end < src_.size() && (src_[end] == '_' || (hex_value(src_[end]) >= 0 && hex_value(src_[end]) < base))) ++end;
    const std::string digits = without_underscores(std::string_view(src_).substr(digits_start, end - digits_start));
    if (digits.empty()) fail("malformed number literal");
    errno = 0;
    char* parse_end = nullptr;
    const long long value = std::strtoll(digits.c_str(), &parse_end, base);
    if (errno == ERANGE) fail("integer literal '" + src_.substr(pos_, end - pos_) + "' exceeds 64 bits");
    Token token{TokenKind::kInteger, src_.substr(pos_, end - pos_), line_};
    token.integer = value;
    tokens_.push_back(std::move(token));
    advance_to(end);
  }

  void lex_string(char quote) {
    std::size_t p = pos_ + 1;
    while (p < src_.size() && src_[p] != quote) p += src_[p] == '\\' ? 2 : 1;
    if (p >= src_.size()) fail("unterminated string literal");
    emit(TokenKind::kString, unescape_string_literal(std::string_view(src_).substr(pos_ + 1, p - pos_ - 1), line_));
    advance_to(p + 1);
  }

  void lex_operator(std::string& brackets) {
    static constexpr std::string_view kTwoChar[] = {"//", "**", "==", "!=", "<=", ">="};
    for (std::string_view op : kTwoChar) {
      if (starts_with_at(pos_, op)) {
        emit(TokenKind::kOperator, std::string(op));
        advance_to(pos_ + 2);
        return;
      }
    }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
      std::size_t size = 0;
      std::string shown;
      unicode::append(shown, unicode::decode_at(src_, pos_, size));
      fail("unexpected char '" + shown + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets += c;
    } else if (c == ')' || c == ']' || c == '}') {
      const char expected_open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets.empty() || brackets.back() != expected_open) fail(std::string("unexpected '") + c + "'");
      brackets.pop_back();
    }
    emit(TokenKind::kOperator, std::string(1, c));
    advance_to(pos_ + 1);
  }

  std::string src_;
  std::size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace strata::chat
