#pragma once

// The slice of Python's str semantics that templates observe: code-point indexing, the
// isspace / isprintable classes, case mapping and splitlines. Strings stay UTF-8 throughout.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace strata::chat::unicode {

// Decodes UTF-8; a byte that is not part of a valid sequence becomes U+DC80+byte (Python's
// surrogateescape), so encoding the result gives back the original bytes.
std::u32string decode(std::string_view utf8);
// Decodes the code point at byte offset pos and stores its byte length in size.
char32_t decode_at(std::string_view utf8, std::size_t pos, std::size_t& size);
std::string encode(std::u32string_view code_points);
void append(std::string& out, char32_t code_point);
std::size_t length(std::string_view utf8);

bool is_space(char32_t c);      // str.isspace
// The offset of the first non-whitespace code point at or after pos.
std::size_t skip_spaces(std::string_view utf8, std::size_t pos);
bool is_printable(char32_t c);  // str.isprintable (general categories approximated, see .cpp)

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize
std::string title(std::string_view s);       // str.title

// str.splitlines(keepends); "\r\n" counts as one break.
std::vector<std::string> split_lines(std::string_view s, bool keep_ends);

// str.strip / lstrip / rstrip; with chars == nullptr strips whitespace.
std::string strip(std::string_view s, const std::string* chars, bool left, bool right);

}  // namespace strata::chat::unicode
