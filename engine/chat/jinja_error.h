#pragma once

#include <stdexcept>
#include <string>

namespace strata::chat {

// Every failure of parsing or rendering a chat template surfaces as this type.
struct ChatTemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure while evaluating, thrown without position; the renderer appends the line of the
// construct being evaluated before it leaves the library as a ChatTemplateError.
struct RenderError : ChatTemplateError {
  using ChatTemplateError::ChatTemplateError;
};

}  // namespace strata::chat
