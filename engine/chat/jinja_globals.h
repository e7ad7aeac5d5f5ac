#pragma once

// The names every template can use without a context: jinja2's range, dict and namespace,
// and the raise_exception and strftime_now functions Hugging Face adds.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

// namespace(): the one object templates can change, through {% set ns.attr = ... %}.
class Namespace : public Object {
 public:
  explicit Namespace(Dict attributes) : attributes_(std::move(attributes)) {}
  Value attribute(std::string_view name) const override;
  std::string repr() const override;
  std::string type_name() const override { return "Namespace"; }
  void set_attribute(std::string_view name, Value value);

 private:
  Dict attributes_;
};

std::vector<std::pair<std::string, Value>> make_globals();

}  // namespace strata::chat
