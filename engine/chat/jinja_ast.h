#pragma once

// The syntax tree of a parsed template. Every node carries the line it starts on, for errors.

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/chat/jinja_value.h"

namespace strata::chat::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Literal {
  Value value;
};
struct Name {
  std::string name;
};
struct ListLiteral {
  std::vector<ExprPtr> items;
};
struct TupleLiteral {
  std::vector<ExprPtr> items;
};
struct DictLiteral {
  std::vector<std::pair<ExprPtr, ExprPtr>> entries;
};

enum class UnaryOp { kNot, kNegate, kPlus };
struct Unary {
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp { kAdd, kSubtract, kMultiply, kDivide, kFloorDivide, kModulo, kPower, kConcat, kAnd, kOr };
struct Binary {
  BinaryOp op;
  ExprPtr left;
  ExprPtr right;
};

enum class CompareOp { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kIn, kNotIn };
// A Python comparison chain: `a < b <= c`.
struct Compare {
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

// `then_value if condition else else_value`; else_value may be null (yields undefined).
struct Conditional {
  ExprPtr condition;
  ExprPtr then_value;
  ExprPtr else_value;
};

struct GetAttr {
  ExprPtr object;
  std::string attribute;
};
struct GetItem {
  ExprPtr object;
  ExprPtr key;
};
// object[start:stop:step]; absent parts are null.
struct Slice {
  ExprPtr object;
  ExprPtr start;
  ExprPtr stop;
  ExprPtr step;
};
struct Call {
  ExprPtr callee;
  Arguments args;
};

struct FilterCall {
  std::string name;
  Arguments args;
  int line = 0;
};
struct Filter {
  ExprPtr value;
  FilterCall call;
};
struct Test {
  ExprPtr value;
  std::string name;
  Arguments args;
  bool negated = false;
};

struct Expr {
  int line = 0;
  std::variant<Literal, Name, ListLiteral, TupleLiteral, DictLiteral, Unary, Binary, Compare, Conditional, GetAttr,
               GetItem, Slice, Call, Filter, Test>
      node;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// The names a for loop or set assigns: one name, or several unpacked from a sequence.
struct Target {
  std::vector<std::string> names;
  bool unpack = false;
};

struct Text {
  std::string text;
};
struct Print {
  ExprPtr value;
};
struct If {
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, then each elif
  Body else_body;
};
struct For {
  Target target;
  ExprPtr iterable;
  ExprPtr condition;  // `for x in xs if condition`; may be null
  Body body;
  Body else_body;
};
struct Set {
  Target target;
  ExprPtr value;
};
// {% set ns.attribute = value %}
struct SetAttribute {
  std::string object;
  std::string attribute;
  ExprPtr value;
};
// {% set name | filters %}body{% endset %}
struct SetBlock {
  std::string name;
  std::vector<FilterCall> filters;
  Body body;
};
struct Parameter {
  std::string name;
  ExprPtr default_value;  // may be null
};
struct Macro {
  std::string name;
  std::vector<Parameter> parameters;
  Body body;
};
struct FilterBlock {
  std::vector<FilterCall> filters;
  Body body;
};
struct With {
  std::vector<std::pair<std::string, ExprPtr>> assignments;
  Body body;
};
struct Break {};
struct Continue {};

struct Stmt {
  int line = 0;
  std::variant<Text, Print, If, For, Set, SetAttribute, SetBlock, Macro, FilterBlock, With, Break, Continue> node;
};

}  // namespace strata::chat::ast
