#include "engine/chat/jinja_tests.h"

#include <utility>

#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_unicode.h"

namespace strata::chat {
namespace {

template <bool (*Predicate)(const Value&)>
bool unary_test(const Value& input, const CallArgs& args) {
  bind_arguments("test", args, {});
  return Predicate(input);
}

// The test's one argument.
Value operand(const CallArgs& args) { return bind_arguments("test", args, {{"other"}})[0]; }

bool is_defined(const Value& v) { return !v.is_undefined(); }
bool is_undefined(const Value& v) { return v.is_undefined(); }
bool is_none(const Value& v) { return v.is_none(); }
bool is_string(const Value& v) { return v.is_string(); }
bool is_number(const Value& v) { return v.is_number(); }
bool is_mapping(const Value& v) { return v.is_dict(); }
// Undefined is iterable (empty) and a sequence (of length 0), as in jinja2.
bool is_iterable(const Value& v) { return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict(); }
bool is_true(const Value& v) { return v.kind() == Value::Kind::kBool && v.as_bool(); }
bool is_false(const Value& v) { return v.kind() == Value::Kind::kBool && !v.as_bool(); }
bool is_boolean(const Value& v) { return v.kind() == Value::Kind::kBool; }
bool is_integer(const Value& v) { return v.kind() == Value::Kind::kInt; }
bool is_float(const Value& v) { return v.kind() == Value::Kind::kFloat; }
bool is_callable(const Value& v) { return v.kind() == Value::Kind::kCallable; }
bool is_lower(const Value& v) {
  return v.is_string() && unicode::lower(v.as_string()) == v.as_string() && unicode::upper(v.as_string()) != v.as_string();
}
bool is_upper(const Value& v) {
  return v.is_string() && unicode::upper(v.as_string()) == v.as_string() && unicode::lower(v.as_string()) != v.as_string();
}

bool divisible(const Value& input, const Value& divisor) {
  return equals(apply_binary(ast::BinaryOp::kModulo, input, divisor), Value::integer(0));
}
bool is_even(const Value& v) { return divisible(v, Value::integer(2)); }
bool is_odd(const Value& v) { return !divisible(v, Value::integer(2)); }
bool test_divisibleby(const Value& input, const CallArgs& args) { return divisible(input, operand(args)); }

template <ast::CompareOp Op>
bool comparison_test(const Value& input, const CallArgs& args) {
  return apply_compare(Op, input, operand(args));
}
bool test_sameas(const Value& input, const CallArgs& args) { return input.same_as(operand(args)); }
bool test_in(const Value& input, const CallArgs& args) { return contains(operand(args), input); }

constexpr std::pair<std::string_view, TestFunction> kTests[] = {
    {"defined", unary_test<is_defined>},
    {"undefined", unary_test<is_undefined>},
    {"none", unary_test<is_none>},
    {"string", unary_test<is_string>},
    {"number", unary_test<is_number>},
    {"mapping", unary_test<is_mapping>},
    {"iterable", unary_test<is_iterable>},
    {"sequence", unary_test<is_iterable>},
    {"true", unary_test<is_true>},
    {"false", unary_test<is_false>},
    {"boolean", unary_test<is_boolean>},
    {"integer", unary_test<is_integer>},
    {"float", unary_test<is_float>},
    {"callable", unary_test<is_callable>},
    {"lower", unary_test<is_lower>},
    {"upper", unary_test<is_upper>},
    {"even", unary_test<is_even>},
    {"odd", unary_test<is_odd>},
    {"divisibleby", test_divisibleby},
    {"sameas", test_sameas},
    {"in", test_in},
    {"equalto", comparison_test<ast::CompareOp::kEqual>},
    {"eq", comparison_test<ast::CompareOp::kEqual>},
    {"==", comparison_test<ast::CompareOp::kEqual>},
    {"ne", comparison_test<ast::CompareOp::kNotEqual>},
    {"!=", comparison_test<ast::CompareOp::kNotEqual>},
    {"lt", comparison_test<ast::CompareOp::kLess>},
    {"lessthan", comparison_test<ast::CompareOp::kLess>},
    {"<", comparison_test<ast::CompareOp::kLess>},
    {"le", comparison_test<ast::CompareOp::kLessEqual>},
    {"<=", comparison_test<ast::CompareOp::kLessEqual>},
    {"gt", comparison_test<ast::CompareOp::kGreater>},
    {"greaterthan", comparison_test<ast::CompareOp::kGreater>},
    {">", comparison_test<ast::CompareOp::kGreater>},
    {"ge", comparison_test<ast::CompareOp::kGreaterEqual>},
    {">=", comparison_test<ast::CompareOp::kGreaterEqual>},
};

}  // namespace

const TestFunction* find_test(std::string_view name) {
  for (const auto& [test_name, function] : kTests) {
    if (test_name == name) return &function;
  }
  return nullptr;
}

}  // namespace strata::chat
