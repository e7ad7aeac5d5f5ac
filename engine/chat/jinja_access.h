#pragma once

// Attribute, subscript and slice access with jinja2's lookup rules.

#include <string_view>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

// `object.name`: a Python attribute (a method) first, then a mapping key. Missing ones are
// undefined; any access on an undefined object raises its error.
Value get_attribute(const Value& object, std::string_view name);

// `object[key]`: the item first, then (for a string key) the attribute.
Value get_item(const Value& object, const Value& key);

// `object[start:stop:step]` on a str, list or tuple; absent bounds are passed as none.
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);

}  // namespace strata::chat
