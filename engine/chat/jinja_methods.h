#pragma once

#include <optional>
#include <string_view>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

// The Python method `name` of a str, dict, list or tuple, bound to its receiver.
// - nullopt: the type has no such attribute (the template sees an undefined value);
// - an undefined value: a mutating method, which jinja2's immutable sandbox refuses to call;
// - throws RenderError for a real Python method this renderer does not implement.
std::optional<Value> find_method(const Value& receiver, std::string_view name);

}  // namespace strata::chat
