// The passkey retrieval prompt (Mohtashami & Jaggi's test): instructions, a haystack of filler
// sentences with the needle "The pass key is NNNNN. Remember it." after a given share of them,
// the question, and the start of the answer. In the model's chat template (a user turn, the
// answer prefix after the generation prompt) when the file has one, else as raw text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/runtime/loaded_model.h"

namespace strata::eval {

struct PasskeyPrompt {
  std::vector<int32_t> tokens;  // the whole prompt, answer prefix included
  std::string key;              // the five digits the answer must contain
  // Token indices (each within a token of the text boundary: a space may join the next word):
  int32_t haystack_begin = 0;   // the first filler token, after the instructions
  int32_t needle_begin = 0;     // the needle sentence
  int32_t haystack_end = 0;     // the question follows
  int32_t filler_sentences = 0;

  // Where the needle sits in the haystack's tokens, 0 (first) to 1 (last).
  double needle_depth() const;
};

class PasskeyPromptBuilder {
 public:
  // `m` must outlive the builder.
  explicit PasskeyPromptBuilder(const runtime::LoadedModel& m);

  bool uses_chat_template() const { return chat_; }

  // The longest prompt of at most `max_tokens` tokens (one filler sentence more would not fit)
  // with `key` (10000..99999) after round(depth x sentences) of the filler sentences. Throws
  // std::invalid_argument when even an empty haystack does not fit.
  PasskeyPrompt build(int32_t max_tokens, double depth, int32_t key) const;

 private:
  struct Text {
    std::string text;
    size_t haystack_begin, needle_begin, haystack_end;  // byte offsets
  };
  Text render(int32_t sentences, double depth, const std::string& needle) const;
  std::vector<int32_t> tokenize(const std::string& text) const;

  const runtime::LoadedModel& model_;
  bool chat_ = false;
  std::string before_user_;    // the chat template's text before the user turn's content
  std::string answer_prefix_;  // after the question: the template's rest, then the answer's start
};

}  // namespace strata::eval
