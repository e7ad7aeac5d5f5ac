#pragma once

// Python semantics of the template operators.

#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_value.h"

namespace strata::chat {

// + - * / // % ** (not ~, and, or, which the evaluator handles).
Value apply_binary(ast::BinaryOp op, const Value& left, const Value& right);
Value apply_unary(ast::UnaryOp op, const Value& operand);
bool apply_compare(ast::CompareOp op, const Value& left, const Value& right);
// Python's `item in container`.
bool contains(const Value& container, const Value& item);

}  // namespace strata::chat
