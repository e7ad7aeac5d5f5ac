// The space clean-up shared by Tokenizer::decode and IncrementalDetokenizer (declared in
// tokenizer.h, implemented in detokenizer.cpp).
#pragma once

#include <string>
#include <string_view>

namespace strata::tokenizer {

// llama.cpp's clean-up of decoded text for vocabularies with clean_spaces: drops the space
// before ? ! . , and around a lone apostrophe (" ' "), and the space before 's 'm 're 've.
std::string clean_up_spaces(std::string_view text);

}  // namespace strata::tokenizer
