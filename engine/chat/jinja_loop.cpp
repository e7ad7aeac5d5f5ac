#include "engine/chat/jinja_loop.h"

#include "engine/chat/jinja_error.h"

namespace strata::chat {

Value LoopContext::attribute(std::string_view name) const {
  const auto index0 = static_cast<std::int64_t>(index0_);
  const auto length = static_cast<std::int64_t>(items_.size());
  if (name == "index") return Value::integer(index0 + 1);
  if (name == "index0") return Value::integer(index0);
  if (name == "revindex") return Value::integer(length - index0);
  if (name == "revindex0") return Value::integer(length - index0 - 1);
  if (name == "first") return Value::boolean(index0 == 0);
  if (name == "last") return Value::boolean(index0 + 1 == length);
  if (name == "length") return Value::integer(length);
  if (name == "depth") return Value::integer(1);
  if (name == "depth0") return Value::integer(0);
  if (name == "previtem") return index0 > 0 ? items_[index0_ - 1] : Value::undefined("there is no previous item");
  if (name == "nextitem") return index0 + 1 < length ? items_[index0_ + 1] : Value::undefined("there is no next item");
  if (name == "cycle") {
    return Value::callable("loop.cycle", [index0 = index0_](const CallArgs& args) {
      if (args.positional.empty()) throw RenderError("no items for cycling given");
      return args.positional[index0 % args.positional.size()];
    });
  }
  if (name == "changed") {
    return Value::callable("loop.changed", [last = last_changed_](const CallArgs& args) {
      const Value current = Value::list(args.positional);
      if (*last && equals(Value::list(**last), current)) return Value::boolean(false);
      *last = args.positional;
      return Value::boolean(true);
    });
  }
  return Value::undefined("'LoopContext object' has no attribute '" + std::string(name) + "'");
}

std::string LoopContext::repr() const {
  return "<LoopContext " + std::to_string(index0_ + 1) + "/" + std::to_string(items_.size()) + ">";
}

}  // namespace strata::chat
