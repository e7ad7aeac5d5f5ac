#include "engine/chat/jinja_operators.h"

#include <cmath>
#include <string>

#include "engine/chat/jinja_error.h"

namespace strata::chat {
namespace {

const char* symbol(ast::BinaryOp op) {
  switch (op) {
    case ast::BinaryOp::kAdd: return "+";
    case ast::BinaryOp::kSubtract: return "-";
    case ast::BinaryOp::kMultiply: return "*";
    case ast::BinaryOp::kDivide: return "/";
    case ast::BinaryOp::kFloorDivide: return "//";
    case ast::BinaryOp::kModulo: return "%";
    case ast::BinaryOp::kPower: return "**";
    default: return "?";
  }
}

[[noreturn]] void fail_operands(ast::BinaryOp op, const Value& left, const Value& right) {
  throw RenderError(std::string("unsupported operand type(s) for ") + symbol(op) + ": '" + type_name(left) + "' and '" +
                    type_name(right) + "'");
}

Value checked(bool overflowed, std::int64_t result) {
  if (overflowed) throw RenderError("integer overflow (values beyond 64 bits are not supported)");
  return Value::integer(result);
}

std::int64_t python_int_modulo(std::int64_t a, std::int64_t b) {
  const std::int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

// Python's float divmod: the floored quotient and a remainder with the divisor's sign.
std::pair<double, double> python_float_divmod(double a, double b) {
  double remainder = std::fmod(a, b);
  double quotient = (a - remainder) / b;
  if (remainder != 0.0) {
    if ((b < 0) != (remainder < 0)) {
      remainder += b;
      quotient -= 1.0;
    }
  } else {
    remainder = std::copysign(0.0, b);
  }
  double floored = 0.0;
  if (quotient != 0.0) {
    floored = std::floor(quotient);
    if (quotient - floored > 0.5) floored += 1.0;
  } else {
    floored = std::copysign(0.0, a / b);
  }
  return {floored, remainder};
}

Value integer_power(std::int64_t base, std::int64_t exponent) {
  std::int64_t result = 1;
  bool overflowed = false;
  while (exponent > 0) {
    if (exponent & 1) overflowed |= __builtin_mul_overflow(result, base, &result);
    exponent >>= 1;
    if (exponent > 0) overflowed |= __builtin_mul_overflow(base, base, &base);
  }
  return checked(overflowed, result);
}

Value numeric(ast::BinaryOp op, const Value& left, const Value& right) {
  const bool integral = left.is_integral() && right.is_integral();
  const double a = left.as_double();
  const double b = right.as_double();
  const bool divides = op == ast::BinaryOp::kDivide || op == ast::BinaryOp::kFloorDivide || op == ast::BinaryOp::kModulo;
  if (divides && b == 0.0) throw RenderError(integral && op != ast::BinaryOp::kDivide ? "integer division or modulo by zero" : "division by zero");
  if (integral) {
    const std::int64_t x = left.as_int();
    const std::int64_t y = right.as_int();
    std::int64_t result = 0;
    switch (op) {
      case ast::BinaryOp::kAdd: {
        const bool overflowed = __builtin_add_overflow(x, y, &result);
        return checked(overflowed, result);
      }
      case ast::BinaryOp::kSubtract: {
        const bool overflowed = __builtin_sub_overflow(x, y, &result);
        return checked(overflowed, result);
      }
      case ast::BinaryOp::kMultiply: {
        const bool overflowed = __builtin_mul_overflow(x, y, &result);
        return checked(overflowed, result);
      }
      case ast::BinaryOp::kFloorDivide: {
        if (x == INT64_MIN && y == -1) return checked(true, 0);
        const bool inexact_negative = x % y != 0 && ((x < 0) != (y < 0));
        return Value::integer(x / y - (inexact_negative ? 1 : 0));
      }
      case ast::BinaryOp::kModulo: return Value::integer(python_int_modulo(x, y));
      case ast::BinaryOp::kPower:
        if (y >= 0) return integer_power(x, y);
        if (x == 0) throw RenderError("0.0 cannot be raised to a negative power");
        return Value::floating(std::pow(a, b));
      default: break;
    }
  }
  switch (op) {
    case ast::BinaryOp::kAdd: return Value::floating(a + b);
    case ast::BinaryOp::kSubtract: return Value::floating(a - b);
    case ast::BinaryOp::kMultiply: return Value::floating(a * b);
    case ast::BinaryOp::kDivide: return Value::floating(a / b);
    case ast::BinaryOp::kFloorDivide: return Value::floating(python_float_divmod(a, b).first);
    case ast::BinaryOp::kModulo: return Value::floating(python_float_divmod(a, b).second);
    case ast::BinaryOp::kPower:
      if (a == 0.0 && b < 0) throw RenderError("0.0 cannot be raised to a negative power");
      return Value::floating(std::pow(a, b));
    default: fail_operands(op, left, right);
  }
}

// markupsafe: adding a plain string to a Markup escapes the plain one.
std::string as_markup_text(const Value& v) { return v.is_markup() ? v.as_string() : escape_html(v.as_string()); }

Value repeat(const Value& sequence, std::int64_t times) {
  if (sequence.is_string()) {
    std::string out;
    for (std::int64_t i = 0; i < times; ++i) out += sequence.as_string();
    return Value::string(std::move(out), sequence.is_markup());
  }
  ValueList out;
  for (std::int64_t i = 0; i < times; ++i) out.insert(out.end(), sequence.as_list().begin(), sequence.as_list().end());
  return sequence.kind() == Value::Kind::kTuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

// Python's printf-style `format % values` for the %s, %r, %d and %i conversions.
Value percent_format(const std::string& format, const Value& values) {
  const ValueList args = values.kind() == Value::Kind::kTuple ? values.as_list() : ValueList{values};
  std::string out;
  std::size_t next_arg = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    const char conversion = i + 1 < format.size() ? format[++i] : '\0';
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (conversion != 's' && conversion != 'r' && conversion != 'd' && conversion != 'i') {
      throw RenderError(std::string("unsupported format conversion '%") + conversion + "' (only %s, %r, %d, %i)");
    }
    if (next_arg >= args.size()) throw RenderError("not enough arguments for format string");
    const Value& arg = args[next_arg++];
    if (conversion == 's') {
      out += to_str(arg);
    } else if (conversion == 'r') {
      out += repr(arg);
    } else if (arg.is_integral()) {
      out += std::to_string(arg.as_int());
    } else if (arg.kind() == Value::Kind::kFloat) {
      out += std::to_string(static_cast<std::int64_t>(arg.as_double()));
    } else {
      throw RenderError("%" + std::string(1, conversion) + " format: a real number is required, not " + type_name(arg));
    }
  }
  if (next_arg < args.size()) throw RenderError("not all arguments converted during string formatting");
  return Value::string(std::move(out));
}

}  // namespace

Value apply_binary(ast::BinaryOp op, const Value& left, const Value& right) {
  if (left.is_undefined()) throw RenderError(left.undefined_hint());
  if (right.is_undefined()) throw RenderError(right.undefined_hint());
  if (left.is_number() && right.is_number()) return numeric(op, left, right);
  switch (op) {
    case ast::BinaryOp::kAdd:
      if (left.is_string() && right.is_string()) {
        if (left.is_markup() || right.is_markup()) return Value::string(as_markup_text(left) + as_markup_text(right), true);
        return Value::string(left.as_string() + right.as_string());
      }
      if (left.is_sequence() && left.kind() == right.kind()) {
        ValueList joined = left.as_list();
        joined.insert(joined.end(), right.as_list().begin(), right.as_list().end());
        return left.kind() == Value::Kind::kTuple ? Value::tuple(std::move(joined)) : Value::list(std::move(joined));
      }
      break;
    case ast::BinaryOp::kMultiply:
      if ((left.is_string() || left.is_sequence()) && right.is_integral()) return repeat(left, right.as_int());
      if (left.is_integral() && (right.is_string() || right.is_sequence())) return repeat(right, left.as_int());
      break;
    case ast::BinaryOp::kModulo:
      if (left.is_string()) return percent_format(left.as_string(), right);
      break;
    default: break;
  }
  fail_operands(op, left, right);
}

Value apply_unary(ast::UnaryOp op, const Value& operand) {
  if (op == ast::UnaryOp::kNot) return Value::boolean(!truthy(operand));
  if (operand.is_undefined()) throw RenderError(operand.undefined_hint());
  if (!operand.is_number()) {
    throw RenderError(std::string("bad operand type for unary ") + (op == ast::UnaryOp::kNegate ? "-" : "+") + ": '" +
                      type_name(operand) + "'");
  }
  if (operand.kind() == Value::Kind::kFloat) {
    return Value::floating(op == ast::UnaryOp::kNegate ? -operand.as_double() : operand.as_double());
  }
  if (op == ast::UnaryOp::kPlus) return Value::integer(operand.as_int());
  if (operand.as_int() == INT64_MIN) return checked(true, 0);
  return Value::integer(-operand.as_int());
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        throw RenderError("'in <string>' requires string as left operand, not " + type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& element : container.as_list()) {
        if (equals(element, item)) return true;
      }
      return false;
    case Value::Kind::kDict: return container.as_dict().find(item) != nullptr;
    default: throw RenderError("argument of type '" + type_name(container) + "' is not iterable");
  }
}

bool apply_compare(ast::CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case ast::CompareOp::kEqual: return equals(left, right);
    case ast::CompareOp::kNotEqual: return !equals(left, right);
    case ast::CompareOp::kIn: return contains(right, left);
    case ast::CompareOp::kNotIn: return !contains(right, left);
    default: break;
  }
  if (left.is_undefined()) throw RenderError(left.undefined_hint());
  if (right.is_undefined()) throw RenderError(right.undefined_hint());
  const int order = compare(left, right);
  switch (op) {
    case ast::CompareOp::kLess: return order < 0;
    case ast::CompareOp::kLessEqual: return order <= 0;
    case ast::CompareOp::kGreater: return order > 0;
    default: return order >= 0;
  }
}

}  // namespace strata::chat
