#include "engine/tokenizer/vocab.h"

#include <algorithm>
#include <span>
#include <spdlog/spdlog.h>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer_error.h"

namespace strata::tokenizer {
namespace {

// llama.cpp finds these tokens by their text when the metadata does not name them, and turns
// each one it finds into a control token.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
    "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEndOfMessageTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPrefixTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>"};
constexpr std::string_view kFimSuffixTexts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>"};
constexpr std::string_view kFimMiddleTexts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"};
constexpr std::string_view kFimRepoTexts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSeparatorTexts[] = {"<|file_sep|>"};

// Every token with one of these texts ends generation (llama_vocab_is_eog).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>"};

// gpt-oss (harmony) structure tokens that llama.cpp always parses and always renders.
constexpr std::string_view kHarmonyStructureTexts[] = {
    "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

TokenType token_type_from(int64_t value) {
  if (value < static_cast<int64_t>(TokenType::kUndefined) || value > static_cast<int64_t>(TokenType::kByte)) {
    return TokenType::kUndefined;
  }
  return static_cast<TokenType>(value);
}

// A special-token id from metadata; like llama.cpp, an id outside the vocabulary is ignored.
int32_t read_token_id(const gguf::GgufFile& file, const std::string& key, int32_t fallback, int32_t n_tokens) {
  if (!file.has(key)) return fallback;
  const int64_t id = file.get_int(key);
  if (id < 0 || id >= n_tokens) {
    spdlog::warn("tokenizer: {} = {} is outside the vocabulary of {} tokens; using {}", key, id, n_tokens, fallback);
    return fallback;
  }
  return static_cast<int32_t>(id);
}

}  // namespace

Vocab Vocab::from_gguf(const gguf::GgufFile& file, const VocabDefaults& defaults) {
  std::vector<std::string> texts = file.get_string_array("tokenizer.ggml.tokens");
  if (texts.empty()) throw TokenizerError("GGUF has no tokenizer.ggml.tokens");
  const std::vector<double> scores = file.get_double_array("tokenizer.ggml.scores");
  const std::vector<int64_t> types = file.get_int_array("tokenizer.ggml.token_type");
  if (!scores.empty() && scores.size() != texts.size()) {
    throw TokenizerError("tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries for " +
                         std::to_string(texts.size()) + " tokens");
  }
  if (!types.empty() && types.size() != texts.size()) {
    throw TokenizerError("tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                         std::to_string(texts.size()) + " tokens");
  }
  if (texts.size() > static_cast<size_t>(INT32_MAX)) throw TokenizerError("vocabulary too large");

  Vocab vocab;
  vocab.tokens_.resize(texts.size());
  vocab.ids_by_text_.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    Token& token = vocab.tokens_[i];
    // llama.cpp names empty tokens this way so that every text stays unique.
    token.text = texts[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::move(texts[i]);
    token.score = scores.empty() ? 0.0F : static_cast<float>(scores[i]);
    token.type = types.empty() ? TokenType::kNormal : token_type_from(types[i]);
    if (!vocab.ids_by_text_.emplace(token.text, static_cast<int32_t>(i)).second) {
      throw TokenizerError("token text '" + token.text + "' appears twice in the vocabulary");
    }
  }

  const int32_t n_tokens = vocab.size();
  vocab.bos_id_ = read_token_id(file, "tokenizer.ggml.bos_token_id", defaults.bos_id, n_tokens);
  vocab.eos_id_ = read_token_id(file, "tokenizer.ggml.eos_token_id", defaults.eos_id, n_tokens);
  vocab.unk_id_ = read_token_id(file, "tokenizer.ggml.unknown_token_id", defaults.unk_id, n_tokens);
  for (int32_t* id : {&vocab.bos_id_, &vocab.eos_id_, &vocab.unk_id_}) {
    if (*id >= n_tokens) *id = kNoToken;  // a default that this small vocabulary lacks
  }
  vocab.add_bos_ = file.get_bool("tokenizer.ggml.add_bos_token", defaults.add_bos);
  vocab.add_eos_ = file.get_bool("tokenizer.ggml.add_eos_token", defaults.add_eos);
  vocab.add_space_prefix_ = file.get_bool("tokenizer.ggml.add_space_prefix", defaults.add_space_prefix);
  vocab.clean_spaces_ = defaults.clean_spaces;
  if (vocab.add_bos_ && vocab.bos_id_ == kNoToken) throw TokenizerError("vocabulary adds BOS but has no BOS token");
  if (vocab.add_eos_ && vocab.eos_id_ == kNoToken) throw TokenizerError("vocabulary adds EOS but has no EOS token");

  vocab.resolve_special_tokens(file);
  return vocab;
}

const Token& Vocab::token(int32_t id) const {
  if (id < 0 || id >= size()) {
    throw TokenizerError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                         std::to_string(size()) + " tokens");
  }
  return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> Vocab::find(std::string_view text) const {
  const auto it = ids_by_text_.find(text);
  if (it == ids_by_text_.end()) return std::nullopt;
  return it->second;
}

bool Vocab::is_end_of_generation(int32_t id) const {
  return std::binary_search(end_of_generation_ids_.begin(), end_of_generation_ids_.end(), id);
}

int32_t Vocab::find_first_of(std::span<const std::string_view> texts) const {
  // llama.cpp takes whichever match its hash map yields first; the lowest id is a stable choice.
  int32_t found = kNoToken;
  for (std::string_view text : texts) {
    if (const auto id = find(text); id && (found == kNoToken || *id < found)) found = *id;
  }
  return found;
}

void Vocab::make_control(int32_t id) {
  Token& token = tokens_[static_cast<size_t>(id)];
  if (token.type != TokenType::kControl) {
    spdlog::debug("tokenizer: token {} '{}' is used as a control token; treating it as one", id, token.text);
    token.type = TokenType::kControl;
  }
}

void Vocab::resolve_special_tokens(const gguf::GgufFile& file) {
  const int32_t n_tokens = size();
  const auto metadata_or_text = [&](const std::string& key, std::span<const std::string_view> texts) {
    const int32_t id = read_token_id(file, key, kNoToken, n_tokens);
    if (id != kNoToken) return id;
    const int32_t by_text = find_first_of(texts);
    if (by_text != kNoToken) make_control(by_text);
    return by_text;
  };
  // The deprecated FIM keys win over the current ones, as in llama.cpp.
  const auto fim_id = [&](const char* key, const char* deprecated_key, std::span<const std::string_view> texts) {
    const int32_t id = read_token_id(file, deprecated_key, kNoToken, n_tokens);
    return id != kNoToken ? id : metadata_or_text(key, texts);
  };

  eot_id_ = metadata_or_text("tokenizer.ggml.eot_token_id", kEndOfTurnTexts);
  const int32_t eom_id = metadata_or_text("tokenizer.ggml.eom_token_id", kEndOfMessageTexts);
  // Looked up only so that, found by their text, they become control tokens.
  fim_id("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id", kFimPrefixTexts);
  fim_id("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id", kFimSuffixTexts);
  fim_id("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id", kFimMiddleTexts);
  const int32_t fim_pad_id = metadata_or_text("tokenizer.ggml.fim_pad_token_id", kFimPadTexts);
  const int32_t fim_repo_id = metadata_or_text("tokenizer.ggml.fim_rep_token_id", kFimRepoTexts);
  const int32_t fim_separator_id = metadata_or_text("tokenizer.ggml.fim_sep_token_id", kFimSeparatorTexts);

  std::vector<int32_t> eog = {fim_pad_id, fim_repo_id, fim_separator_id, eos_id_, eot_id_, eom_id};
  for (std::string_view text : kEndOfGenerationTexts) {
    if (const auto id = find(text)) {
      eog.push_back(*id);
      make_control(*id);
    }
  }
  for (std::string_view text : kHarmonyStructureTexts) {
    if (const auto id = find(text)) tokens_[static_cast<size_t>(*id)].type = TokenType::kUserDefined;
  }
  std::erase(eog, kNoToken);
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  end_of_generation_ids_ = std::move(eog);

  // In the harmony format <|end|> closes a message but not the generation, which goes on to
  // <|return|> or <|call|>.
  const auto end_id = find("<|end|>");
  if (end_id && is_end_of_generation(*end_id) && find("<|return|>") && find("<|call|>")) {
    std::erase(end_of_generation_ids_, *end_id);
    tokens_[static_cast<size_t>(*end_id)].type = TokenType::kUserDefined;
  }
}

}  // namespace strata::tokenizer
