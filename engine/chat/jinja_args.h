#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

struct ParameterSpec {
  std::string_view name;
  std::optional<Value> default_value = std::nullopt;  // unset: the argument is required
};

// Binds positional and keyword arguments to parameters the way Python binds a call, and
// returns one value per parameter. Throws RenderError naming `callee` on a missing, repeated
// or unknown argument.
std::vector<Value> bind_arguments(std::string_view callee, const CallArgs& args,
                                  std::initializer_list<ParameterSpec> parameters);

}  // namespace strata::chat
