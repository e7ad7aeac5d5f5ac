// UTF-8 helpers shared by the tokenizers and the detokenizer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "engine/common/utf8.h"

namespace strata::tokenizer {

// Length of the sequence that `lead` starts, judged by its high bits only (as llama.cpp splits
// text into characters): 1 for ASCII and for stray continuation bytes, else 2, 3 or 4.
size_t utf8_sequence_length(unsigned char lead);

// Length of the well-formed UTF-8 character at the start of `text` (no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 if it does not start with one.
size_t valid_utf8_char_length(std::string_view text);

// `text` with every byte that is not part of a well-formed character replaced by U+FFFD,
// which is what llama.cpp does before pre-tokenizing.
std::string replace_invalid_utf8(std::string_view text);

// Length of the longest prefix of `text` that does not end inside a multi-byte character
// whose remaining bytes could still arrive.
size_t complete_utf8_prefix_length(std::string_view text);

// Decodes the character at `text[pos]` and advances `pos` past it; a byte that does not start a
// well-formed character decodes to U+FFFD and advances `pos` by one.
char32_t decode_utf8(std::string_view text, size_t& pos);

}  // namespace strata::tokenizer
