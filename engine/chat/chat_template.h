#pragma once

// Renders a model's chat template (the Jinja source from its GGUF metadata or
// tokenizer_config.json) exactly as Hugging Face transformers' apply_chat_template does:
// jinja2's ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loop controls,
// plus raise_exception(), strftime_now() and a tojson filter that does not escape HTML.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja_error.h"

namespace strata::chat {

namespace ast {
struct Stmt;
}

class ChatTemplate {
 public:
  // Parses once; render many times, from any number of threads at once (rendering reads the
  // parsed template and nothing else shared). Throws ChatTemplateError naming the construct and line
  // on syntax errors and on anything this renderer does not support.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // context: {"messages": [...], "add_generation_prompt": bool, "bos_token": "...",
  // "eos_token": "...", plus any extra keys such as "tools"}. nlohmann::json orders object
  // keys alphabetically, which is what templates then see when they iterate a mapping.
  std::string render(const nlohmann::json& context) const;
  // The same with the keys of every object in their original order, as Python would see them
  // (matters for templates that print tool schemas with tojson).
  std::string render_ordered(const nlohmann::ordered_json& context) const;

 private:
  std::vector<std::unique_ptr<ast::Stmt>> body_;
};

}  // namespace strata::chat
