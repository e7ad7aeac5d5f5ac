#include "engine/tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <memory>
#include <string>
#include <utility>

#include "engine/tokenizer/tokenizer_error.h"
#include "engine/tokenizer/utf8.h"

namespace strata::tokenizer {
namespace {

// The patterns are llama.cpp's, which adapt the ones in each model's tokenizer.json. Where
// llama.cpp's std::regex sees a character differently from PCRE2 the pattern says so instead:
// it shows every non-ASCII whitespace character to the regex as U+000B, so such a character
// never matches a class that lists it, and it does not count '~' as a symbol (\p{S}).
constexpr std::string_view kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr std::string_view kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kPoro = " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+";
constexpr std::string_view kCjkRuns =
    "(?:(?![\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}])"
    "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}])+";
constexpr std::string_view kDeepseek3Words =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|(?:~|[^\r\n\\p{L}\\p{P}\\p{S}])?[\\p{L}\\p{M}]+|"
    " ?(?:(?!~)[\\p{P}\\p{S}])+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kDeepseekLatinWords =
    "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{293}"
    "\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}"
    "\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{10a0}-"
    "\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}"
    "\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}"
    "\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}"
    "\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}"
    "\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}"
    "\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-"
    "\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-"
    "\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}"
    "\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}"
    "\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}"
    "\\x{10cc0}-\\x{10cf2}\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}]+";
constexpr std::string_view kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kGpt4o =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::vector<PreTokenizerType> make_types() {
  const std::vector<std::string_view> starcoder = {"\\p{N}", kGpt2};
  return {
      {.names = {"default"},
       .patterns = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
      {.names = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       .patterns = {kLlama3},
       .ignore_merges = true,
       .add_bos = true},
      {.names = {"dbrx", "smaug-bpe"}, .patterns = {kLlama3}},
      {.names = {"glm4", "chatglm-bpe"}, .patterns = {kLlama3}, .has_default_bos = false},
      {.names = {"deepseek-llm"},
       .patterns = {"[\r\n]", kDeepseekLatinWords,
                    "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3001}-\\x{3002}]+",
                    "\\s+$", kCjkRuns, "\\p{N}+"},
       .clean_spaces = false},
      {.names = {"deepseek-coder"},
       .patterns = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjkRuns, "\\p{N}"},
       .clean_spaces = false},
      {.names = {"deepseek-v3", "hunyuan-dense"},
       .patterns = {"\\p{N}{1,3}", "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+", kDeepseek3Words},
       .clean_spaces = false},
      {.names = {"falcon"}, .patterns = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}},
      {.names = {"starcoder", "refact", "codeshell", "exaone", "minerva-7b"}, .patterns = starcoder},
      {.names = {"command-r", "smollm"}, .patterns = starcoder, .clean_spaces = false},
      {.names = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                 "mellum", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "exaone4"},
       .patterns = {kGpt2}},
      {.names = {"trillion"}, .patterns = {kGpt2}, .clean_spaces = false},
      {.names = {"stablelm2", "megrez"}, .patterns = {kQwen2}},
      {.names = {"qwen2", "deepseek-r1-qwen", "hunyuan"}, .patterns = {kQwen2}, .clean_spaces = false},
      {.names = {"bloom", "gpt3-finnish"}, .patterns = {kPoro}},
      {.names = {"poro-chat"}, .patterns = {kPoro}, .clean_spaces = false},
      {.names = {"viking"}, .patterns = {kPoro, "\\p{N}"}, .clean_spaces = false},
      {.names = {"tekken"}, .patterns = {kTekken}, .clean_spaces = false, .ignore_merges = true, .add_bos = true},
      {.names = {"chameleon"},
       .patterns = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
                    "[\\p{P}!-/:-@\\[-`{-~]", kGpt2},
       .clean_spaces = false,
       .add_bos = true},
      {.names = {"gpt-4o", "llama4"}, .patterns = {kGpt4o}, .clean_spaces = false},
      {.names = {"superbpe"}, .patterns = {"\\p{N}+", "(?=(\\d{3})+(?!\\d))"}, .clean_spaces = false},
      {.names = {"bailingmoe"},
       .patterns = {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
                    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
       .clean_spaces = false},
      {.names = {"seed-coder"},
       .patterns = {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                    "\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       .clean_spaces = false},
  };
}

// llama.cpp's whitespace is Unicode's White_Space property in every pattern. PCRE2's \s is
// ASCII-only, or with PCRE2_UCP also matches U+180E, so \s and \S are spelled out as this set.
constexpr std::string_view kWhiteSpaceSet =
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";

std::string with_explicit_whitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[++i];
      if (escaped == 's') {
        out += in_class ? std::string(kWhiteSpaceSet) : "[" + std::string(kWhiteSpaceSet) + "]";
      } else if (escaped == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceSet) + "]";
      } else {
        out += c;
        out += escaped;
      }
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

const std::vector<PreTokenizerType>& pre_tokenizer_types() {
  static const std::vector<PreTokenizerType> types = make_types();
  return types;
}

const PreTokenizerType* find_pre_tokenizer_type(std::string_view name) {
  for (const PreTokenizerType& type : pre_tokenizer_types()) {
    for (std::string_view candidate : type.names) {
      if (candidate == name) return &type;
    }
  }
  return nullptr;
}

class PreTokenizer::Pattern {
 public:
  explicit Pattern(std::string_view source) {
    const std::string pattern = with_explicit_whitespace(source);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    // No PCRE2_UCP: \d stays ASCII as in llama.cpp's std::regex; \s is spelled out above.
    // PCRE2_DOLLAR_ENDONLY: $ means the end of the piece, as in ECMAScript.
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &error_code, &error_offset, nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof message);
      throw TokenizerError("pre-tokenizer pattern '" + std::string(source) + "' does not compile at offset " +
                           std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // without JIT support matching is only slower
  }
  ~Pattern() { pcre2_code_free(code_); }
  Pattern(Pattern&& other) noexcept : code_(std::exchange(other.code_, nullptr)) {}
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;
  Pattern& operator=(Pattern&&) = delete;

  // Appends to `out` the matches of this pattern in `piece` and the text between them.
  void split(std::string_view piece, pcre2_match_data* match_data, std::vector<std::string_view>& out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
    size_t emitted = 0;
    size_t start = 0;
    uint32_t options = 0;
    while (start <= piece.size()) {
      const int rc =
          pcre2_match(code_, subject, piece.size(), start, options | PCRE2_NO_UTF_CHECK, match_data, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) {
        if (options == 0 || start == piece.size()) break;
        // After an empty match, and no non-empty one at the same place, search on from the next character.
        options = 0;
        start += utf8_sequence_length(static_cast<unsigned char>(piece[start]));
        continue;
      }
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof message);
        throw TokenizerError(std::string("pre-tokenizer match failed: ") + reinterpret_cast<const char*>(message));
      }
      const size_t match_begin = ovector[0];
      const size_t match_end = ovector[1];
      if (match_begin > emitted) out.push_back(piece.substr(emitted, match_begin - emitted));
      if (match_end > match_begin) out.push_back(piece.substr(match_begin, match_end - match_begin));
      emitted = match_end;
      start = match_end;
      options = match_end == match_begin ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
    }
    if (emitted < piece.size()) out.push_back(piece.substr(emitted));
  }

  pcre2_code* code() const { return code_; }

 private:
  pcre2_code* code_ = nullptr;
};

PreTokenizer::PreTokenizer(const std::vector<std::string_view>& patterns) {
  patterns_.reserve(patterns.size());
  for (std::string_view pattern : patterns) patterns_.emplace_back(pattern);
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (!text.empty()) pieces.push_back(text);
  std::vector<std::string_view> next;
  for (const Pattern& pattern : patterns_) {
    const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
        pcre2_match_data_create_from_pattern(pattern.code(), nullptr), &pcre2_match_data_free);
    if (!match_data) throw TokenizerError("out of memory for pre-tokenizer match data");
    next.clear();
    for (std::string_view piece : pieces) pattern.split(piece, match_data.get(), next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace strata::tokenizer
