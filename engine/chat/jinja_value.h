#pragma once

// The dynamic value of the template language, modelled on the Python objects jinja2 renders:
// str() and repr() output, equality, ordering, truthiness and iteration follow Python.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace strata::chat {

class Value;
using ValueList = std::vector<Value>;

// A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).
// Linear lookup is fine for the small mappings chat contexts hold.
struct Dict {
  std::vector<std::pair<Value, Value>> entries;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void insert_or_assign(Value key, Value value);
};

struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<Value(const CallArgs&)>;

struct Callable {
  std::string name;
  NativeFunction function;
};

// Objects with attributes (namespace(), the loop variable): reference semantics, like Python.
class Object {
 public:
  virtual ~Object() = default;
  virtual Value attribute(std::string_view name) const = 0;
  virtual std::string repr() const = 0;
  virtual std::string type_name() const = 0;
};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kObject, kCallable };

  // An undefined value; the hint is the message of the error raised when it is misused,
  // e.g. "'foo' is undefined".
  Value() = default;
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool b);
  static Value integer(std::int64_t i);
  static Value floating(double d);
  // markup marks a string made by the safe / escape filters (markupsafe.Markup).
  static Value string(std::string s, bool markup = false);
  static Value list(ValueList items);
  static Value tuple(ValueList items);
  static Value dict(Dict d);
  static Value object(std::shared_ptr<Object> o);
  static Value callable(std::string name, NativeFunction function);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  // bool, int and float: Python's numbers.Number.
  bool is_number() const { return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  // bool and int: usable as an index or in integer arithmetic.
  bool is_integral() const { return kind_ == Kind::kBool || kind_ == Kind::kInt; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }

  bool as_bool() const { return std::get<bool>(data_); }
  // For bool and int.
  std::int64_t as_int() const;
  // For any number.
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const std::string& undefined_hint() const { return std::get<std::string>(data_); }
  // For lists and tuples.
  const ValueList& as_list() const { return *std::get<std::shared_ptr<const ValueList>>(data_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<const Dict>>(data_); }
  Object& as_object() const { return *std::get<std::shared_ptr<Object>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(data_); }

  // Python's `is`: identity for containers and objects, equality for immutable scalars.
  bool same_as(const Value& other) const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool markup_ = false;
  std::variant<std::string, bool, std::int64_t, double, std::shared_ptr<const ValueList>,
               std::shared_ptr<const Dict>, std::shared_ptr<Object>, std::shared_ptr<const Callable>>
      data_;
};

bool truthy(const Value& v);
std::string to_str(const Value& v);  // Python str(); undefined prints as ""
std::string repr(const Value& v);    // Python repr()
// markupsafe.escape: & < > " ' as HTML entities.
std::string escape_html(std::string_view s);
std::string format_float(double d);  // Python float repr: shortest round-trip digits
std::string type_name(const Value& v);
bool equals(const Value& a, const Value& b);
// Python's <, ==, > for numbers, strings and same-kind sequences; throws RenderError otherwise.
int compare(const Value& a, const Value& b);
// Python len(); undefined has length 0.
std::size_t length(const Value& v);
// The items Python's iter() yields: characters of a string, keys of a dict.
ValueList iterate(const Value& v);

}  // namespace strata::chat
