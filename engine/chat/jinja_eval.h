#pragma once

#include <string>

#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_value.h"

namespace strata::chat {

// Renders a parsed template; `context` is a dict whose entries become template variables
// (shadowing the globals). Throws ChatTemplateError, with the line for runtime errors and
// unchanged for raise_exception().
std::string render_template(const ast::Body& body, const Value& context);

}  // namespace strata::chat
