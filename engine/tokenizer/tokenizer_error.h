// The one exception type the tokenizer throws.
#pragma once

#include <stdexcept>

namespace strata::tokenizer {

struct TokenizerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace strata::tokenizer
