#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/chat/jinja_value.h"

namespace strata::chat {

// The `loop` variable of a for loop. One object serves every iteration of a loop.
class LoopContext : public Object {
 public:
  explicit LoopContext(ValueList items) : items_(std::move(items)) {}
  void set_index(std::size_t index0) { index0_ = index0; }

  Value attribute(std::string_view name) const override;
  std::string repr() const override;
  std::string type_name() const override { return "LoopContext"; }

 private:
  ValueList items_;
  std::size_t index0_ = 0;
  // The arguments of the previous loop.changed() call, shared with the bound method.
  std::shared_ptr<std::optional<ValueList>> last_changed_ = std::make_shared<std::optional<ValueList>>();
};

}  // namespace strata::chat
