#pragma once

// The filters of `value | name(args)`, with jinja2's behaviour and Hugging Face's tojson.

#include <string_view>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

using FilterFunction = Value (*)(const Value& input, const CallArgs& args);

// Null when this renderer has no filter of that name.
const FilterFunction* find_filter(std::string_view name);

}  // namespace strata::chat
