#pragma once

#include <string_view>

#include "engine/chat/jinja_ast.h"

namespace strata::chat {

// Parses a template. Throws ChatTemplateError with the line on syntax errors and on tags,
// filters and tests this renderer does not support.
ast::Body parse_template(std::string_view source);

}  // namespace strata::chat
