#pragma once

// The tests of `value is name(args)`.

#include <string_view>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

using TestFunction = bool (*)(const Value& input, const CallArgs& args);

// Null when this renderer has no test of that name.
const TestFunction* find_test(std::string_view name);

}  // namespace strata::chat
