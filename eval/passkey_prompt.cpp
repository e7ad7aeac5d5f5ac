#include "eval/passkey_prompt.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include "engine/runtime/generate.h"

namespace strata::eval {
namespace {

constexpr const char* kInstructions =
    "There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n\n";
// The classic filler: no digits, nothing about keys, so the needle is the only answer.
constexpr std::array<const char*, 5> kFiller = {"The grass is green.", "The sky is blue.", "The sun is yellow.",
                                                "Here we go.", "There and back again."};
constexpr const char* kQuestion = "\n\nWhat is the pass key?";
constexpr const char* kAnswerStart = "The pass key is";
// Stands for the user turn's content while the chat template is rendered once.
constexpr const char* kContentMarker = "\x1f";

}  // namespace

double PasskeyPrompt::needle_depth() const {
  const int32_t span = haystack_end - haystack_begin;
  return span <= 0 ? 0.0 : static_cast<double>(needle_begin - haystack_begin) / span;
}

PasskeyPromptBuilder::PasskeyPromptBuilder(const runtime::LoadedModel& m) : model_(m), chat_(!m.chat_template.empty()) {
  if (!chat_) {
    answer_prefix_ = std::string(" ") + kAnswerStart;
    return;
  }
  const std::string rendered = runtime::render_chat_prompt(m, "", kContentMarker);
  const size_t at = rendered.find(kContentMarker);
  if (at == std::string::npos) throw std::runtime_error("the chat template drops the user's message");
  before_user_ = rendered.substr(0, at);
  answer_prefix_ = rendered.substr(at + 1) + kAnswerStart;
}

std::vector<int32_t> PasskeyPromptBuilder::tokenize(const std::string& text) const {
  // Chat prompts carry the template's special tokens; raw text is taken literally.
  return runtime::tokenize_prompt(model_, text, /*parse_special=*/chat_);
}

PasskeyPromptBuilder::Text PasskeyPromptBuilder::render(int32_t sentences, double depth, const std::string& needle) const {
  const auto before_needle = static_cast<int32_t>(std::lround(depth * sentences));
  Text t;
  t.text = before_user_ + kInstructions;
  t.haystack_begin = t.text.size();
  for (int32_t i = 0; i <= sentences; ++i) {
    if (i == before_needle) {
      if (t.text.size() > t.haystack_begin) t.text += ' ';
      t.needle_begin = t.text.size();
      t.text += needle;
    }
    if (i < sentences) {
      if (t.text.size() > t.haystack_begin) t.text += ' ';
      t.text += kFiller[static_cast<size_t>(i) % kFiller.size()];
    }
  }
  t.haystack_end = t.text.size();
  t.text += kQuestion + answer_prefix_;
  return t;
}

PasskeyPrompt PasskeyPromptBuilder::build(int32_t max_tokens, double depth, int32_t key) const {
  if (depth < 0.0 || depth > 1.0) throw std::invalid_argument("passkey depth must be in [0, 1]");
  if (key < 10000 || key > 99999) throw std::invalid_argument("passkey key must have five digits");
  const std::string digits = std::to_string(key);
  const std::string needle = "The pass key is " + digits + ". Remember it.";
  auto length = [&](int32_t sentences) {
    return static_cast<int32_t>(tokenize(render(sentences, depth, needle).text).size());
  };
  const int32_t overhead = length(0);
  if (overhead > max_tokens) {
    throw std::invalid_argument("a passkey prompt needs at least " + std::to_string(overhead) + " tokens, more than " +
                                std::to_string(max_tokens));
  }
  // Estimate the sentence count from one round of the filler, then settle on the exact one.
  const double per_sentence = std::max(1.0, static_cast<double>(length(static_cast<int32_t>(kFiller.size())) - overhead) /
                                                static_cast<double>(kFiller.size()));
  auto sentences = static_cast<int32_t>((max_tokens - overhead) / per_sentence);
  for (int32_t n = length(sentences); n > max_tokens; n = length(sentences)) {
    sentences = std::max(0, sentences - std::max(1, static_cast<int32_t>((n - max_tokens) / per_sentence)));
  }
  while (length(sentences + 1) <= max_tokens) ++sentences;

  const Text t = render(sentences, depth, needle);
  auto tokens_before = [&](size_t offset) {
    // Trailing whitespace would be a token of its own here but joins the next word in the prompt.
    const size_t end = t.text.find_last_not_of(" \n", offset - 1);
    return static_cast<int32_t>(tokenize(t.text.substr(0, end == std::string::npos ? 0 : end + 1)).size());
  };
  PasskeyPrompt p;
  p.tokens = tokenize(t.text);
  p.key = digits;
  p.haystack_begin = tokens_before(t.haystack_begin);
  p.needle_begin = tokens_before(t.needle_begin);
  p.haystack_end = tokens_before(t.haystack_end);
  p.filler_sentences = sentences;
  return p;
}

}  // namespace strata::eval
