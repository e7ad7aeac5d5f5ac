#include "engine/chat/jinja_access.h"

#include <algorithm>
#include <string>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_unicode.h"

namespace strata::chat {
namespace {

// The phrase jinja2 uses for an object in "has no attribute" messages.
std::string describe_object(const Value& object) {
  return object.is_none() ? "'None'" : "'" + type_name(object) + " object'";
}

Value missing_attribute(const Value& object, std::string_view name) {
  return Value::undefined(describe_object(object) + " has no attribute '" + std::string(name) + "'");
}

Value method_or_missing(const Value& object, std::string_view name) {
  if (auto method = find_method(object, name)) return *method;
  return missing_attribute(object, name);
}

void fail_on_undefined(const Value& object) {
  if (object.is_undefined()) throw RenderError(object.undefined_hint());
}

Value string_at(const std::string& text, std::int64_t index) {
  const std::u32string chars = unicode::decode(text);
  const auto size = static_cast<std::int64_t>(chars.size());
  if (index < 0) index += size;
  if (index < 0 || index >= size) return Value::undefined("string index out of range");
  std::string one;
  unicode::append(one, chars[static_cast<std::size_t>(index)]);
  return Value::string(std::move(one));
}

Value sequence_at(const Value& sequence, std::int64_t index) {
  const ValueList& items = sequence.as_list();
  const auto size = static_cast<std::int64_t>(items.size());
  if (index < 0) index += size;
  if (index < 0 || index >= size) return Value::undefined(type_name(sequence) + " index out of range");
  return items[static_cast<std::size_t>(index)];
}

// Python's slice.indices(): the positions a slice selects from a sequence of `size` items.
std::vector<std::size_t> slice_positions(std::size_t size, const Value& start, const Value& stop, const Value& step) {
  auto as_bound = [](const Value& v, const char* what) {
    if (!v.is_integral()) throw RenderError(std::string("slice ") + what + " must be an integer or None, not " + type_name(v));
    return v.as_int();
  };
  const std::int64_t stride = step.is_none() ? 1 : as_bound(step, "step");
  if (stride == 0) throw RenderError("slice step cannot be zero");
  const auto length = static_cast<std::int64_t>(size);
  const std::int64_t lower = stride > 0 ? 0 : -1;
  const std::int64_t upper = stride > 0 ? length : length - 1;
  auto resolve = [&](const Value& bound, std::int64_t if_none, const char* what) {
    if (bound.is_none()) return if_none;
    std::int64_t i = as_bound(bound, what);
    if (i < 0) i += length;
    return std::clamp(i, lower, upper);
  };
  const std::int64_t first = resolve(start, stride > 0 ? lower : upper, "start");
  const std::int64_t last = resolve(stop, stride > 0 ? upper : lower, "stop");
  std::vector<std::size_t> positions;
  for (std::int64_t i = first; stride > 0 ? i < last : i > last; i += stride) positions.push_back(static_cast<std::size_t>(i));
  return positions;
}

}  // namespace

Value get_attribute(const Value& object, std::string_view name) {
  fail_on_undefined(object);
  switch (object.kind()) {
    case Value::Kind::kDict: {
      if (auto method = find_method(object, name)) return *method;
      const Value* found = object.as_dict().find(name);
      return found != nullptr ? *found : missing_attribute(object, name);
    }
    case Value::Kind::kObject: return object.as_object().attribute(name);
    default: return method_or_missing(object, name);
  }
}

Value get_item(const Value& object, const Value& key) {
  fail_on_undefined(object);
  switch (object.kind()) {
    case Value::Kind::kDict:
      if (const Value* found = object.as_dict().find(key)) return *found;
      break;
    case Value::Kind::kString:
      if (key.is_integral()) return string_at(object.as_string(), key.as_int());
      break;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      if (key.is_integral()) return sequence_at(object, key.as_int());
      break;
    case Value::Kind::kObject:
      if (key.is_string()) return object.as_object().attribute(key.as_string());
      break;
    default: break;
  }
  if (key.is_string()) return method_or_missing(object, key.as_string());
  return Value::undefined(describe_object(object) + " has no element " + repr(key));
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  fail_on_undefined(object);
  if (object.is_string()) {
    const std::u32string chars = unicode::decode(object.as_string());
    std::u32string picked;
    for (std::size_t i : slice_positions(chars.size(), start, stop, step)) picked += chars[i];
    return Value::string(unicode::encode(picked));
  }
  if (!object.is_sequence()) throw RenderError("'" + type_name(object) + "' object is not subscriptable");
  ValueList picked;
  for (std::size_t i : slice_positions(object.as_list().size(), start, stop, step)) picked.push_back(object.as_list()[i]);
  return object.kind() == Value::Kind::kTuple ? Value::tuple(std::move(picked)) : Value::list(std::move(picked));
}

}  // namespace strata::chat
