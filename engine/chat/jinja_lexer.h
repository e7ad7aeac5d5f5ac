#pragma once

// Splits template source into tokens the way jinja2's lexer does under Hugging Face's
// settings (trim_blocks, lstrip_blocks, no keep_trailing_newline): whitespace control is
// fully applied here, comments vanish and raw blocks become plain data.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::chat {

enum class TokenKind {
  kData,           // literal template text
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,   // text holds the decoded value
  kInteger,  // integer holds the value
  kFloat,    // number holds the value
  kOperator,
  kEnd,  // end of the template
};

struct Token {
  TokenKind kind;
  std::string text;
  int line = 1;
  std::int64_t integer = 0;
  double number = 0.0;
};

// Throws ChatTemplateError naming the line on malformed input.
std::vector<Token> tokenize(std::string_view source);

}  // namespace strata::chat
