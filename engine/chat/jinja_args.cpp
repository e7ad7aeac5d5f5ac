#include "engine/chat/jinja_args.h"

#include <string>

#include "engine/chat/jinja_error.h"

namespace strata::chat {

std::vector<Value> bind_arguments(std::string_view callee, const CallArgs& args,
                                  std::initializer_list<ParameterSpec> parameters) {
  const std::string who(callee);
  if (args.positional.size() > parameters.size()) {
    throw RenderError(who + " takes at most " + std::to_string(parameters.size()) + " argument(s), got " +
                      std::to_string(args.positional.size()));
  }
  std::vector<std::optional<Value>> bound(parameters.size());
  for (std::size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    std::size_t index = 0;
    for (const ParameterSpec& parameter : parameters) {
      if (parameter.name == name) break;
      ++index;
    }
    if (index == parameters.size()) throw RenderError(who + " got an unexpected keyword argument '" + name + "'");
    if (bound[index]) throw RenderError(who + " got multiple values for argument '" + name + "'");
    bound[index] = value;
  }
  std::vector<Value> values;
  values.reserve(parameters.size());
  std::size_t index = 0;
  for (const ParameterSpec& parameter : parameters) {
    std::optional<Value>& value = bound[index++];
    if (!value) {
      if (!parameter.default_value) {
        throw RenderError(who + " missing required argument '" + std::string(parameter.name) + "'");
      }
      value = parameter.default_value;
    }
    values.push_back(std::move(*value));
  }
  return values;
}

}  // namespace strata::chat
