#include "engine/chat/jinja_globals.h"

#include <ctime>
#include <memory>

#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_error.h"

namespace strata::chat {

Value Namespace::attribute(std::string_view name) const {
  const Value* found = attributes_.find(name);
  return found != nullptr ? *found : Value::undefined("'Namespace object' has no attribute '" + std::string(name) + "'");
}

std::string Namespace::repr() const { return "<Namespace " + chat::repr(Value::dict(attributes_)) + ">"; }

void Namespace::set_attribute(std::string_view name, Value value) {
  attributes_.insert_or_assign(Value::string(std::string(name)), std::move(value));
}

namespace {

// The sandbox refuses ranges longer than this.
constexpr std::int64_t kMaxRange = 100000;

Value range_function(const CallArgs& args) {
  if (!args.keyword.empty()) throw RenderError("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) throw RenderError("range expected 1 to 3 arguments");
  for (const Value& arg : args.positional) {
    if (!arg.is_integral()) throw RenderError("'" + type_name(arg) + "' object cannot be interpreted as an integer");
  }
  const bool only_stop = args.positional.size() == 1;
  const std::int64_t start = only_stop ? 0 : args.positional[0].as_int();
  const std::int64_t stop = only_stop ? args.positional[0].as_int() : args.positional[1].as_int();
  const std::int64_t step = args.positional.size() == 3 ? args.positional[2].as_int() : 1;
  if (step == 0) throw RenderError("range() arg 3 must not be zero");
  ValueList items;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<std::int64_t>(items.size()) == kMaxRange) {
      throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    items.push_back(Value::integer(i));
  }
  return Value::list(std::move(items));
}

// dict(mapping?, **kwargs), which namespace() also takes.
Dict dict_from_arguments(std::string_view callee, const CallArgs& args) {
  if (args.positional.size() > 1) throw RenderError(std::string(callee) + " expected at most 1 positional argument");
  Dict dict;
  if (!args.positional.empty()) {
    if (!args.positional[0].is_dict()) throw RenderError(std::string(callee) + " needs a mapping as positional argument");
    dict = args.positional[0].as_dict();
  }
  for (const auto& [name, value] : args.keyword) dict.insert_or_assign(Value::string(name), value);
  return dict;
}

Value dict_function(const CallArgs& args) { return Value::dict(dict_from_arguments("dict", args)); }

Value namespace_function(const CallArgs& args) {
  return Value::object(std::make_shared<Namespace>(dict_from_arguments("namespace", args)));
}

Value raise_exception_function(const CallArgs& args) {
  const Value message = bind_arguments("raise_exception", args, {{"message"}})[0];
  // Not a RenderError: the template's own message reaches the caller unchanged.
  throw ChatTemplateError(to_str(message));
}

Value strftime_now_function(const CallArgs& args) {
  const Value format = bind_arguments("strftime_now", args, {{"format"}})[0];
  if (!format.is_string()) throw RenderError("strftime_now format must be a string");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string buffer(256 + format.as_string().size() * 8, '\0');
  const std::size_t written = std::strftime(buffer.data(), buffer.size(), format.as_string().c_str(), &local);
  buffer.resize(written);
  return Value::string(std::move(buffer));
}

Value unsupported_global(const std::string& name) {
  return Value::callable(name, [name](const CallArgs&) -> Value { throw RenderError("unsupported global '" + name + "'"); });
}

}  // namespace

std::vector<std::pair<std::string, Value>> make_globals() {
  return {
      {"range", Value::callable("range", range_function)},
      {"dict", Value::callable("dict", dict_function)},
      {"namespace", Value::callable("namespace", namespace_function)},
      {"raise_exception", Value::callable("raise_exception", raise_exception_function)},
      {"strftime_now", Value::callable("strftime_now", strftime_now_function)},
      {"cycler", unsupported_global("cycler")},
      {"joiner", unsupported_global("joiner")},
      {"lipsum", unsupported_global("lipsum")},
  };
}

}  // namespace strata::chat
