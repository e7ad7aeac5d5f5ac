#include "engine/chat/chat_template.h"

#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_eval.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_parser.h"

namespace strata::chat {
namespace {

template <class Json>
Value context_from_json(const Json& context) {
  if (!context.is_object()) throw ChatTemplateError("chat template context must be a JSON object");
  return value_from_json(context);
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source) : body_(parse_template(source)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::json& context) const {
  return render_template(body_, context_from_json(context));
}

std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& context) const {
  return render_template(body_, context_from_json(context));
}

}  // namespace strata::chat
