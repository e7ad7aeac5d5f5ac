#include "engine/chat/jinja_eval.h"

#include <map>
#include <memory>
#include <type_traits>

#include "engine/chat/jinja_access.h"
#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_globals.h"
#include "engine/chat/jinja_loop.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_tests.h"

namespace strata::chat {
namespace {

// Variables of one frame: the template top level, a loop iteration, a macro call, a with
// block. Assignment always writes the innermost frame, so a {% set %} inside a loop body
// does not leak out of it, as in jinja2.
class Scope {
 public:
  explicit Scope(const Scope* parent) : parent_(parent) {}

  const Value* find(std::string_view name) const {
    for (const Scope* scope = this; scope != nullptr; scope = scope->parent_) {
      if (auto it = scope->variables_.find(name); it != scope->variables_.end()) return &it->second;
    }
    return nullptr;
  }

  void set(std::string name, Value value) { variables_.insert_or_assign(std::move(name), std::move(value)); }

 private:
  const Scope* parent_;
  std::map<std::string, Value, std::less<>> variables_;
};

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  explicit Evaluator(const Value& context) : globals_(nullptr) {
    for (auto& [name, value] : make_globals()) globals_.set(std::move(name), std::move(value));
    for (const auto& [key, value] : context.as_dict().entries) {
      if (key.is_string()) globals_.set(key.as_string(), value);
    }
  }

  std::string render(const ast::Body& body) {
    std::string out;
    try {
      Scope top_level(&globals_);
      top_level_ = &top_level;
      exec_body(body, top_level, out);
    } catch (const RenderError& error) {
      throw ChatTemplateError(std::string(error.what()) + " at line " + std::to_string(line_));
    }
    return out;
  }

 private:
  // --- statements ---

  Flow exec_body(const ast::Body& body, Scope& scope, std::string& out) {
    for (const ast::StmtPtr& stmt : body) {
      line_ = stmt->line;
      const Flow flow = std::visit([&](const auto& node) { return exec(node, scope, out); }, stmt->node);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  std::string render_in_child_scope(const ast::Body& body, Scope& scope) {
    Scope child(&scope);
    std::string out;
    exec_body(body, child, out);
    return out;
  }

  Flow exec(const ast::Text& node, Scope&, std::string& out) {
    out += node.text;
    return Flow::kNormal;
  }

  Flow exec(const ast::Print& node, Scope& scope, std::string& out) {
    out += to_str(eval(*node.value, scope));
    return Flow::kNormal;
  }

  Flow exec(const ast::If& node, Scope& scope, std::string& out) {
    for (const auto& [condition, body] : node.branches) {
      if (truthy(eval(*condition, scope))) return exec_body(body, scope, out);
    }
    return exec_body(node.else_body, scope, out);
  }

  void assign(const ast::Target& target, const Value& value, Scope& scope) {
    if (!target.unpack) {
      scope.set(target.names.front(), value);
      return;
    }
    const ValueList parts = iterate(value);
    const std::size_t expected = target.names.size();
    if (parts.size() > expected) throw RenderError("too many values to unpack (expected " + std::to_string(expected) + ")");
    if (parts.size() < expected) {
      throw RenderError("not enough values to unpack (expected " + std::to_string(expected) + ", got " +
                        std::to_string(parts.size()) + ")");
    }
    for (std::size_t i = 0; i < expected; ++i) scope.set(target.names[i], parts[i]);
  }

  Flow exec(const ast::For& node, Scope& scope, std::string& out) {
    ValueList items = iterate(eval(*node.iterable, scope));
    if (node.condition) {
      ValueList kept;
      for (Value& item : items) {
        Scope filter_scope(&scope);
        assign(node.target, item, filter_scope);
        if (truthy(eval(*node.condition, filter_scope))) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      Scope else_scope(&scope);
      exec_body(node.else_body, else_scope, out);
      return Flow::kNormal;
    }
    const auto loop = std::make_shared<LoopContext>(items);
    const Value loop_value = Value::object(loop);
    for (std::size_t i = 0; i < items.size(); ++i) {
      Scope iteration(&scope);
      assign(node.target, items[i], iteration);
      loop->set_index(i);
      iteration.set("loop", loop_value);
      if (exec_body(node.body, iteration, out) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  Flow exec(const ast::Set& node, Scope& scope, std::string&) {
    assign(node.target, eval(*node.value, scope), scope);
    return Flow::kNormal;
  }

  Flow exec(const ast::SetAttribute& node, Scope& scope, std::string&) {
    const Value* object = scope.find(node.object);
    auto* target = object != nullptr && object->kind() == Value::Kind::kObject
                       ? dynamic_cast<Namespace*>(&object->as_object())
                       : nullptr;
    if (target == nullptr) throw RenderError("cannot assign attribute on non-namespace object '" + node.object + "'");
    target->set_attribute(node.attribute, eval(*node.value, scope));
    return Flow::kNormal;
  }

  Flow exec(const ast::SetBlock& node, Scope& scope, std::string&) {
    Value value = Value::string(render_in_child_scope(node.body, scope));
    scope.set(node.name, apply_filters(std::move(value), node.filters, scope));
    return Flow::kNormal;
  }

  Flow exec(const ast::FilterBlock& node, Scope& scope, std::string& out) {
    Value value = Value::string(render_in_child_scope(node.body, scope));
    out += to_str(apply_filters(std::move(value), node.filters, scope));
    return Flow::kNormal;
  }

  Flow exec(const ast::With& node, Scope& scope, std::string& out) {
    Scope inner(&scope);
    for (const auto& [name, expr] : node.assignments) inner.set(name, eval(*expr, scope));
    return exec_body(node.body, inner, out);
  }

  Flow exec(const ast::Macro& node, Scope& scope, std::string&) {
    const ast::Macro* macro = &node;
    scope.set(node.name, Value::callable(node.name, [this, macro](const CallArgs& args) { return call_macro(*macro, args); }));
    return Flow::kNormal;
  }

  Flow exec(const ast::Break&, Scope&, std::string&) { return Flow::kBreak; }
  Flow exec(const ast::Continue&, Scope&, std::string&) { return Flow::kContinue; }

  // Macros resolve free names at call time in the template's top level (jinja2 closes over
  // the defining frame; templates define macros at the top level).
  Value call_macro(const ast::Macro& macro, const CallArgs& args) {
    const int call_line = line_;
    if (args.positional.size() > macro.parameters.size()) {
      throw RenderError("macro '" + macro.name + "' takes not more than " + std::to_string(macro.parameters.size()) +
                        " argument(s)");
    }
    Scope local(top_level_);
    std::vector<bool> bound(macro.parameters.size(), false);
    for (std::size_t i = 0; i < args.positional.size(); ++i) {
      local.set(macro.parameters[i].name, args.positional[i]);
      bound[i] = true;
    }
    for (const auto& [name, value] : args.keyword) {
      std::size_t i = 0;
      while (i < macro.parameters.size() && macro.parameters[i].name != name) ++i;
      if (i == macro.parameters.size()) throw RenderError("macro '" + macro.name + "' takes no keyword argument '" + name + "'");
      if (bound[i]) throw RenderError("macro '" + macro.name + "' got multiple values for argument '" + name + "'");
      local.set(name, value);
      bound[i] = true;
    }
    for (std::size_t i = 0; i < macro.parameters.size(); ++i) {
      if (bound[i]) continue;
      const ast::Parameter& parameter = macro.parameters[i];
      local.set(parameter.name, parameter.default_value
                                    ? eval(*parameter.default_value, local)
                                    : Value::undefined("parameter '" + parameter.name + "' was not provided"));
    }
    std::string out;
    exec_body(macro.body, local, out);
    line_ = call_line;
    return Value::string(std::move(out));
  }

  // --- expressions ---

  Value eval(const ast::Expr& expr, const Scope& scope) {
    line_ = expr.line;
    return std::visit([&](const auto& node) { return eval_node(node, scope, expr.line); }, expr.node);
  }

  CallArgs eval_arguments(const ast::Arguments& args, const Scope& scope) {
    CallArgs values;
    for (const ast::ExprPtr& arg : args.positional) values.positional.push_back(eval(*arg, scope));
    for (const auto& [name, arg] : args.keyword) values.keyword.emplace_back(name, eval(*arg, scope));
    return values;
  }

  Value apply_filter(Value input, const ast::FilterCall& call, const Scope& scope) {
    const CallArgs args = eval_arguments(call.args, scope);
    line_ = call.line;
    return (*find_filter(call.name))(input, args);
  }

  Value apply_filters(Value value, const std::vector<ast::FilterCall>& filters, const Scope& scope) {
    for (const ast::FilterCall& call : filters) value = apply_filter(std::move(value), call, scope);
    return value;
  }

  ValueList eval_items(const std::vector<ast::ExprPtr>& exprs, const Scope& scope) {
    ValueList items;
    for (const ast::ExprPtr& item : exprs) items.push_back(eval(*item, scope));
    return items;
  }

  Value eval_node(const ast::Literal& node, const Scope&, int) { return node.value; }

  Value eval_node(const ast::Name& node, const Scope& scope, int) {
    const Value* found = scope.find(node.name);
    return found != nullptr ? *found : Value::undefined("'" + node.name + "' is undefined");
  }

  Value eval_node(const ast::ListLiteral& node, const Scope& scope, int) { return Value::list(eval_items(node.items, scope)); }
  Value eval_node(const ast::TupleLiteral& node, const Scope& scope, int) { return Value::tuple(eval_items(node.items, scope)); }

  Value eval_node(const ast::DictLiteral& node, const Scope& scope, int) {
    Dict dict;
    for (const auto& [key_expr, value_expr] : node.entries) {
      Value key = eval(*key_expr, scope);
      if (key.kind() == Value::Kind::kList || key.is_dict() || key.is_undefined()) {
        throw RenderError("unhashable type: '" + type_name(key) + "'");
      }
      dict.insert_or_assign(std::move(key), eval(*value_expr, scope));
    }
    return Value::dict(std::move(dict));
  }

  Value eval_node(const ast::Unary& node, const Scope& scope, int) {
    return apply_unary(node.op, eval(*node.operand, scope));
  }

  Value eval_node(const ast::Binary& node, const Scope& scope, int line) {
    Value left = eval(*node.left, scope);
    switch (node.op) {
      case ast::BinaryOp::kAnd: return truthy(left) ? eval(*node.right, scope) : left;
      case ast::BinaryOp::kOr: return truthy(left) ? left : eval(*node.right, scope);
      case ast::BinaryOp::kConcat: return Value::string(to_str(left) + to_str(eval(*node.right, scope)));
      default: {
        const Value right = eval(*node.right, scope);
        line_ = line;
        return apply_binary(node.op, left, right);
      }
    }
  }

  Value eval_node(const ast::Compare& node, const Scope& scope, int line) {
    Value left = eval(*node.first, scope);
    for (const auto& [op, right_expr] : node.rest) {
      Value right = eval(*right_expr, scope);
      line_ = line;
      if (!apply_compare(op, left, right)) return Value::boolean(false);
      left = std::move(right);
    }
    return Value::boolean(true);
  }

  Value eval_node(const ast::Conditional& node, const Scope& scope, int line) {
    if (truthy(eval(*node.condition, scope))) return eval(*node.then_value, scope);
    if (node.else_value) return eval(*node.else_value, scope);
    return Value::undefined("the inline if-expression on line " + std::to_string(line) +
                            " evaluated to false and no else section was defined.");
  }

  Value eval_node(const ast::GetAttr& node, const Scope& scope, int line) {
    const Value object = eval(*node.object, scope);
    line_ = line;
    return get_attribute(object, node.attribute);
  }

  Value eval_node(const ast::GetItem& node, const Scope& scope, int line) {
    const Value object = eval(*node.object, scope);
    const Value key = eval(*node.key, scope);
    line_ = line;
    return get_item(object, key);
  }

  Value eval_node(const ast::Slice& node, const Scope& scope, int line) {
    const Value object = eval(*node.object, scope);
    auto bound = [&](const ast::ExprPtr& expr) { return expr ? eval(*expr, scope) : Value::none(); };
    const Value start = bound(node.start);
    const Value stop = bound(node.stop);
    const Value step = bound(node.step);
    line_ = line;
    return get_slice(object, start, stop, step);
  }

  Value eval_node(const ast::Call& node, const Scope& scope, int line) {
    const Value callee = eval(*node.callee, scope);
    const CallArgs args = eval_arguments(node.args, scope);
    line_ = line;
    if (callee.kind() == Value::Kind::kCallable) return callee.as_callable().function(args);
    if (callee.is_undefined()) throw RenderError(callee.undefined_hint());
    throw RenderError("'" + type_name(callee) + "' object is not callable");
  }

  Value eval_node(const ast::Filter& node, const Scope& scope, int) {
    return apply_filter(eval(*node.value, scope), node.call, scope);
  }

  Value eval_node(const ast::Test& node, const Scope& scope, int line) {
    const Value value = eval(*node.value, scope);
    const CallArgs args = eval_arguments(node.args, scope);
    line_ = line;
    return Value::boolean((*find_test(node.name))(value, args) != node.negated);
  }

  Scope globals_;
  const Scope* top_level_ = nullptr;
  int line_ = 0;
};

}  // namespace

std::string render_template(const ast::Body& body, const Value& context) { return Evaluator(context).render(body); }

}  // namespace strata::chat
