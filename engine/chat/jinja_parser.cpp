#include "engine/chat/jinja_parser.h"

#include <algorithm>
#include <initializer_list>
#include <optional>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_lexer.h"
#include "engine/chat/jinja_tests.h"

namespace strata::chat {
namespace {

using ast::Body;
using ast::ExprPtr;
using ast::StmtPtr;

template <class Node>
ExprPtr make_expr(int line, Node node) {
  return std::make_unique<ast::Expr>(ast::Expr{line, std::move(node)});
}

template <class Node>
StmtPtr make_stmt(int line, Node node) {
  return std::make_unique<ast::Stmt>(ast::Stmt{line, std::move(node)});
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse() {
    std::string no_end_tag;
    return parse_body({}, no_end_tag);
  }

 private:
  // --- token stream ---

  const Token& peek(std::size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  bool at(TokenKind kind, std::size_t ahead = 0) const { return peek(ahead).kind == kind; }
  bool at_operator(std::string_view op, std::size_t ahead = 0) const {
    return at(TokenKind::kOperator, ahead) && peek(ahead).text == op;
  }
  bool at_name(std::string_view name, std::size_t ahead = 0) const {
    return at(TokenKind::kName, ahead) && peek(ahead).text == name;
  }
  bool skip_operator(std::string_view op) {
    if (!at_operator(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& token) {
    switch (token.kind) {
      case TokenKind::kData: return "template data";
      case TokenKind::kVariableBegin: return "'{{'";
      case TokenKind::kVariableEnd: return "'}}'";
      case TokenKind::kBlockBegin: return "'{%'";
      case TokenKind::kBlockEnd: return "'%}'";
      case TokenKind::kString: return "string";
      case TokenKind::kEnd: return "end of template";
      default: return "'" + token.text + "'";
    }
  }

  [[noreturn]] void fail(const std::string& message, int line) const {
    throw ChatTemplateError(message + " at line " + std::to_string(line));
  }
  [[noreturn]] void fail_unexpected(const std::string& expected) const {
    fail("unexpected " + describe(peek()) + ", expected " + expected, peek().line);
  }

  void expect(TokenKind kind, const std::string& what) {
    if (!at(kind)) fail_unexpected(what);
    next();
  }
  void expect_operator(std::string_view op) {
    if (!skip_operator(op)) fail_unexpected("'" + std::string(op) + "'");
  }
  void expect_block_end() { expect(TokenKind::kBlockEnd, "end of statement block"); }
  std::string expect_name() {
    if (!at(TokenKind::kName)) fail_unexpected("a name");
    return next().text;
  }

  // --- statements ---

  // Parses until a {% tag %} named in end_tags, whose name is consumed and stored in
  // found_end_tag; the rest of that tag is left to the caller.
  Body parse_body(std::initializer_list<std::string_view> end_tags, std::string& found_end_tag) {
    Body body;
    while (true) {
      const Token& token = peek();
      switch (token.kind) {
        case TokenKind::kData:
          body.push_back(make_stmt(token.line, ast::Text{token.text}));
          next();
          break;
        case TokenKind::kVariableBegin: {
          next();
          ExprPtr value = parse_tuple(true);
          expect(TokenKind::kVariableEnd, "'}}'");
          body.push_back(make_stmt(token.line, ast::Print{std::move(value)}));
          break;
        }
        case TokenKind::kBlockBegin: {
          const Token& tag = peek(1);
          if (tag.kind == TokenKind::kName &&
              std::find(end_tags.begin(), end_tags.end(), tag.text) != end_tags.end()) {
            next();
            found_end_tag = next().text;
            return body;
          }
          next();
          body.push_back(parse_statement());
          break;
        }
        case TokenKind::kEnd:
          if (end_tags.size() > 0) {
            fail("unexpected end of template, expected '" + std::string(*std::prev(end_tags.end())) + "'", token.line);
          }
          return body;
        default: fail_unexpected("template data or a tag");
      }
    }
  }

  Body parse_block_body(std::initializer_list<std::string_view> end_tags, std::string& found_end_tag) {
    expect_block_end();
    return parse_body(end_tags, found_end_tag);
  }

  StmtPtr parse_statement() {
    const Token& tag = peek();
    if (tag.kind != TokenKind::kName) fail_unexpected("a tag name");
    const int line = tag.line;
    const std::string name = next().text;
    if (name == "if") return parse_if(line);
    if (name == "for") return parse_for(line);
    if (name == "set") return parse_set(line);
    if (name == "macro") return parse_macro(line);
    if (name == "filter") return parse_filter_block(line);
    if (name == "with") return parse_with(line);
    if (name == "print") {
      ExprPtr value = parse_tuple(true);
      expect_block_end();
      return make_stmt(line, ast::Print{std::move(value)});
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail("'" + name + "' outside of a loop", line);
      expect_block_end();
      return name == "break" ? make_stmt(line, ast::Break{}) : make_stmt(line, ast::Continue{});
    }
    if (name.starts_with("end") || name == "elif" || name == "else") fail("unexpected tag '" + name + "'", line);
    fail("unsupported tag '" + name + "'", line);
  }

  StmtPtr parse_if(int line) {
    ast::If node;
    std::string end_tag = "elif";
    while (end_tag == "elif") {
      // As in jinja2, a condition is a tuple of or-expressions: `a if b else c` needs parentheses.
      ExprPtr condition = parse_tuple(false);
      Body body = parse_block_body({"elif", "else", "endif"}, end_tag);
      node.branches.emplace_back(std::move(condition), std::move(body));
    }
    if (end_tag == "else") node.else_body = parse_block_body({"endif"}, end_tag);
    expect_block_end();
    return make_stmt(line, std::move(node));
  }

  ast::Target parse_target() {
    ast::Target target;
    const bool parenthesized = skip_operator("(");
    target.names.push_back(expect_name());
    while (skip_operator(",")) {
      target.unpack = true;
      if (at(TokenKind::kName) && !at_name("in")) target.names.push_back(expect_name());
    }
    if (parenthesized) expect_operator(")");
    return target;
  }

  StmtPtr parse_for(int line) {
    ast::For node;
    node.target = parse_target();
    if (!skip_name("in")) fail_unexpected("'in'");
    node.iterable = parse_tuple(false);
    if (skip_name("if")) node.condition = parse_expression();
    if (at_name("recursive")) fail("unsupported recursive for loop", peek().line);
    std::string end_tag;
    ++loop_depth_;
    node.body = parse_block_body({"else", "endfor"}, end_tag);
    --loop_depth_;
    if (end_tag == "else") node.else_body = parse_block_body({"endfor"}, end_tag);
    expect_block_end();
    return make_stmt(line, std::move(node));
  }

  std::vector<ast::FilterCall> parse_filter_chain() {
    std::vector<ast::FilterCall> filters;
    do {
      filters.push_back(parse_filter_call());
    } while (skip_operator("|"));
    return filters;
  }

  StmtPtr parse_set(int line) {
    if (at(TokenKind::kName) && at_operator(".", 1)) {
      ast::SetAttribute node;
      node.object = next().text;
      next();
      node.attribute = expect_name();
      expect_operator("=");
      node.value = parse_tuple(true);
      expect_block_end();
      return make_stmt(line, std::move(node));
    }
    ast::Target target = parse_target();
    if (skip_operator("=")) {
      ExprPtr value = parse_tuple(true);
      expect_block_end();
      return make_stmt(line, ast::Set{std::move(target), std::move(value)});
    }
    if (target.unpack) fail_unexpected("'='");
    ast::SetBlock node;
    node.name = target.names.front();
    if (skip_operator("|")) node.filters = parse_filter_chain();
    std::string end_tag;
    node.body = parse_block_body({"endset"}, end_tag);
    expect_block_end();
    return make_stmt(line, std::move(node));
  }

  StmtPtr parse_macro(int line) {
    ast::Macro node;
    node.name = expect_name();
    expect_operator("(");
    while (!skip_operator(")")) {
      if (!node.parameters.empty()) expect_operator(",");
      if (skip_operator(")")) break;
      ast::Parameter parameter;
      parameter.name = expect_name();
      if (skip_operator("=")) {
        parameter.default_value = parse_expression();
      } else if (!node.parameters.empty() && node.parameters.back().default_value) {
        fail("non-default argument follows default argument in macro '" + node.name + "'", line);
      }
      node.parameters.push_back(std::move(parameter));
    }
    // A macro body is its own function: loop controls cannot reach an enclosing loop.
    const int enclosing_loop_depth = std::exchange(loop_depth_, 0);
    std::string end_tag;
    node.body = parse_block_body({"endmacro"}, end_tag);
    loop_depth_ = enclosing_loop_depth;
    expect_block_end();
    return make_stmt(line, std::move(node));
  }

  StmtPtr parse_filter_block(int line) {
    ast::FilterBlock node;
    node.filters = parse_filter_chain();
    std::string end_tag;
    node.body = parse_block_body({"endfilter"}, end_tag);
    expect_block_end();
    return make_stmt(line, std::move(node));
  }

  StmtPtr parse_with(int line) {
    ast::With node;
    while (!at(TokenKind::kBlockEnd)) {
      if (!node.assignments.empty()) expect_operator(",");
      std::string name = expect_name();
      expect_operator("=");
      node.assignments.emplace_back(std::move(name), parse_expression());
    }
    std::string end_tag;
    node.body = parse_block_body({"endwith"}, end_tag);
    expect_block_end();
    return make_stmt(line, std::move(node));
  }

  // --- expressions, loosest binding first ---

  // Where a tuple may end after a trailing comma: the tag closes, a parenthesis closes, or
  // a for loop's iterable is followed by its filter or `recursive`.
  bool at_tuple_end() const {
    return at(TokenKind::kVariableEnd) || at(TokenKind::kBlockEnd) || at_operator(")") || at_name("if") ||
           at_name("recursive");
  }

  // Comma-separated expressions form a tuple, as in Python: `{{ a, b }}`, `set x = 1, 2`.
  ExprPtr parse_tuple(bool with_conditional) {
    const int line = peek().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_operator(",")) break;
        is_tuple = true;
        if (at_tuple_end()) break;
      }
      items.push_back(with_conditional ? parse_expression() : parse_or());
    }
    if (!is_tuple) return std::move(items.front());
    return make_expr(line, ast::TupleLiteral{std::move(items)});
  }

  ExprPtr parse_expression() {
    ExprPtr value = parse_or();
    while (at_name("if")) {
      const int line = next().line;
      ExprPtr condition = parse_or();
      ExprPtr else_value = skip_name("else") ? parse_expression() : nullptr;
      value = make_expr(line, ast::Conditional{std::move(condition), std::move(value), std::move(else_value)});
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      left = make_expr(line, ast::Binary{ast::BinaryOp::kOr, std::move(left), parse_and()});
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      left = make_expr(line, ast::Binary{ast::BinaryOp::kAnd, std::move(left), parse_not()});
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      const int line = next().line;
      return make_expr(line, ast::Unary{ast::UnaryOp::kNot, parse_not()});
    }
    return parse_compare();
  }

  std::optional<ast::CompareOp> compare_operator() {
    static const std::pair<std::string_view, ast::CompareOp> kOperators[] = {
        {"==", ast::CompareOp::kEqual}, {"!=", ast::CompareOp::kNotEqual},     {"<", ast::CompareOp::kLess},
        {"<=", ast::CompareOp::kLessEqual}, {">", ast::CompareOp::kGreater}, {">=", ast::CompareOp::kGreaterEqual}};
    for (const auto& [text, op] : kOperators) {
      if (skip_operator(text)) return op;
    }
    if (skip_name("in")) return ast::CompareOp::kIn;
    if (at_name("not") && at_name("in", 1)) {
      next();
      next();
      return ast::CompareOp::kNotIn;
    }
    return std::nullopt;
  }

  ExprPtr parse_compare() {
    const int line = peek().line;
    ExprPtr first = parse_math1();
    ast::Compare node;
    while (const auto op = compare_operator()) node.rest.emplace_back(*op, parse_math1());
    if (node.rest.empty()) return first;
    node.first = std::move(first);
    return make_expr(line, std::move(node));
  }

  // A left-associative level of binary operators.
  template <class ParseOperand>
  ExprPtr parse_binary_level(std::initializer_list<std::pair<std::string_view, ast::BinaryOp>> operators,
                             ParseOperand parse_operand) {
    ExprPtr left = (this->*parse_operand)();
    while (true) {
      const auto match = std::find_if(operators.begin(), operators.end(),
                                      [&](const auto& entry) { return at_operator(entry.first); });
      if (match == operators.end()) return left;
      const int line = next().line;
      left = make_expr(line, ast::Binary{match->second, std::move(left), (this->*parse_operand)()});
    }
  }

  ExprPtr parse_math1() {
    return parse_binary_level({{"+", ast::BinaryOp::kAdd}, {"-", ast::BinaryOp::kSubtract}}, &Parser::parse_concat);
  }
  ExprPtr parse_concat() { return parse_binary_level({{"~", ast::BinaryOp::kConcat}}, &Parser::parse_math2); }
  ExprPtr parse_math2() {
    return parse_binary_level({{"*", ast::BinaryOp::kMultiply},
                               {"/", ast::BinaryOp::kDivide},
                               {"//", ast::BinaryOp::kFloorDivide},
                               {"%", ast::BinaryOp::kModulo}},
                              &Parser::parse_pow);
  }
  // jinja2 parses ** left-associatively and below unary minus: -2**2 == 4.
  ExprPtr parse_pow() { return parse_binary_level({{"**", ast::BinaryOp::kPower}}, &Parser::parse_unary_with_filters); }

  ExprPtr parse_unary_with_filters() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filters) {
    const int line = peek().line;
    ExprPtr node;
    if (skip_operator("-")) {
      node = make_expr(line, ast::Unary{ast::UnaryOp::kNegate, parse_unary(false)});
    } else if (skip_operator("+")) {
      node = make_expr(line, ast::Unary{ast::UnaryOp::kPlus, parse_unary(false)});
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (!with_filters) return node;
    return parse_filters_and_tests(std::move(node));
  }

  ExprPtr parse_primary() {
    const Token& token = peek();
    const int line = token.line;
    switch (token.kind) {
      case TokenKind::kName: {
        const std::string name = next().text;
        if (name == "true" || name == "True") return make_expr(line, ast::Literal{Value::boolean(true)});
        if (name == "false" || name == "False") return make_expr(line, ast::Literal{Value::boolean(false)});
        if (name == "none" || name == "None") return make_expr(line, ast::Literal{Value::none()});
        return make_expr(line, ast::Name{name});
      }
      case TokenKind::kString: {
        std::string text;
        while (at(TokenKind::kString)) text += next().text;  // adjacent literals concatenate
        return make_expr(line, ast::Literal{Value::string(std::move(text))});
      }
      case TokenKind::kInteger: return make_expr(line, ast::Literal{Value::integer(next().integer)});
      case TokenKind::kFloat: return make_expr(line, ast::Literal{Value::floating(next().number)});
      default: break;
    }
    if (skip_operator("(")) {
      if (skip_operator(")")) return make_expr(line, ast::TupleLiteral{});
      ExprPtr inner = parse_tuple(true);
      expect_operator(")");
      return inner;
    }
    if (skip_operator("[")) {
      ast::ListLiteral list;
      while (!skip_operator("]")) {
        if (!list.items.empty()) {
          expect_operator(",");
          if (skip_operator("]")) break;
        }
        list.items.push_back(parse_expression());
      }
      return make_expr(line, std::move(list));
    }
    if (skip_operator("{")) {
      ast::DictLiteral dict;
      while (!skip_operator("}")) {
        if (!dict.entries.empty()) {
          expect_operator(",");
          if (skip_operator("}")) break;
        }
        ExprPtr key = parse_expression();
        expect_operator(":");
        dict.entries.emplace_back(std::move(key), parse_expression());
      }
      return make_expr(line, std::move(dict));
    }
    fail_unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const int line = peek().line;
      if (skip_operator(".")) {
        if (at(TokenKind::kInteger)) {
          ExprPtr index = make_expr(line, ast::Literal{Value::integer(next().integer)});
          node = make_expr(line, ast::GetItem{std::move(node), std::move(index)});
        } else {
          node = make_expr(line, ast::GetAttr{std::move(node), expect_name()});
        }
      } else if (skip_operator("[")) {
        node = parse_subscript(std::move(node), line);
      } else if (at_operator("(")) {
        node = make_expr(line, ast::Call{std::move(node), parse_call_arguments()});
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object, int line) {
    ExprPtr start = at_operator(":") ? nullptr : parse_expression();
    if (!skip_operator(":")) {
      if (at_operator(",")) fail("unsupported multi-index subscript", line);
      expect_operator("]");
      return make_expr(line, ast::GetItem{std::move(object), std::move(start)});
    }
    ExprPtr stop = at_operator("]") || at_operator(":") ? nullptr : parse_expression();
    ExprPtr step;
    if (skip_operator(":") && !at_operator("]")) step = parse_expression();
    expect_operator("]");
    return make_expr(line, ast::Slice{std::move(object), std::move(start), std::move(stop), std::move(step)});
  }

  ast::Arguments parse_call_arguments() {
    const int line = peek().line;
    expect_operator("(");
    ast::Arguments args;
    bool first = true;
    while (!skip_operator(")")) {
      if (!first) {
        expect_operator(",");
        if (skip_operator(")")) break;
      }
      first = false;
      if (at_operator("*") || at_operator("**")) fail("unsupported argument unpacking in call", line);
      if (at(TokenKind::kName) && at_operator("=", 1)) {
        std::string name = next().text;
        next();
        args.keyword.emplace_back(std::move(name), parse_expression());
      } else {
        if (!args.keyword.empty()) fail("positional argument follows keyword argument", line);
        args.positional.push_back(parse_expression());
      }
    }
    return args;
  }

  ast::FilterCall parse_filter_call() {
    ast::FilterCall call;
    call.line = peek().line;
    call.name = expect_name();
    if (find_filter(call.name) == nullptr) fail("unsupported filter '" + call.name + "'", call.line);
    if (at_operator("(")) call.args = parse_call_arguments();
    return call;
  }

  ExprPtr parse_filters_and_tests(ExprPtr node) {
    while (true) {
      const int line = peek().line;
      if (skip_operator("|")) {
        node = make_expr(line, ast::Filter{std::move(node), parse_filter_call()});
      } else if (skip_name("is")) {
        node = parse_test(std::move(node), line);
      } else if (at_operator("(")) {
        node = make_expr(line, ast::Call{std::move(node), parse_call_arguments()});
      } else {
        return node;
      }
    }
  }

  // `value is [not] name`, with arguments in parentheses or one bare argument
  // (`is divisibleby 3`).
  ExprPtr parse_test(ExprPtr value, int line) {
    ast::Test test;
    test.value = std::move(value);
    test.negated = skip_name("not");
    test.name = expect_name();
    if (find_test(test.name) == nullptr) fail("unsupported test '" + test.name + "'", line);
    const bool bare_argument = (at(TokenKind::kName) || at(TokenKind::kString) || at(TokenKind::kInteger) ||
                                at(TokenKind::kFloat) || at_operator("[") || at_operator("{")) &&
                               !at_name("else") && !at_name("or") && !at_name("and");
    if (at_operator("(")) {
      test.args = parse_call_arguments();
    } else if (bare_argument) {
      if (at_name("is")) fail("cannot chain tests with 'is'", peek().line);
      test.args.positional.push_back(parse_postfix(parse_primary()));
    }
    return make_expr(line, std::move(test));
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

ast::Body parse_template(std::string_view source) { return Parser(tokenize(source)).parse(); }

}  // namespace strata::chat
