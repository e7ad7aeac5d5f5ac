// The tokenizer against llama.cpp's golden ids (tests/golden/tokenizer, made by
// tests/golden/gen_tokenizer_fixtures.py), plus the behaviour that needs no model file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace strata::tokenizer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSourceDir = STRATA_SOURCE_DIR;

bool is_valid_utf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = valid_utf8_char_length(text.substr(pos));
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

std::string from_hex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return bytes;
}

// A GGUF file of metadata only, written to a temporary file.
class GgufWriter {
 public:
  GgufWriter() = default;
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;
  ~GgufWriter() {
    if (!path_.empty()) fs::remove(path_);
  }

  void add_string(const std::string& key, const std::string& value) {
    begin(key, kString);
    put_string(value);
  }
  void add_bool(const std::string& key, bool value) {
    begin(key, kBool);
    bytes_ += static_cast<char>(value);
  }
  void add_uint32(const std::string& key, uint32_t value) {
    begin(key, kUint32);
    put(value);
  }
  void add_int32_array(const std::string& key, const std::vector<int64_t>& values) {
    begin(key, kArray);
    put<uint32_t>(kInt32);
    put<uint64_t>(values.size());
    for (const int64_t value : values) put(static_cast<int32_t>(value));
  }
  void add_string_array(const std::string& key, const std::vector<std::string>& values) {
    begin(key, kArray);
    put<uint32_t>(kString);
    put<uint64_t>(values.size());
    for (const std::string& value : values) put_string(value);
  }

  // Writes the file and returns its path; removed when the writer goes.
  const fs::path& write() {
    path_ = fs::temp_directory_path() / ("strata_tokenizer_test_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(next_file_number_++) + ".gguf");
    std::string file = "GGUF";
    const auto append = [&](auto value) { file.append(reinterpret_cast<const char*>(&value), sizeof value); };
    append(uint32_t{3});
    append(uint64_t{0});  // tensors
    append(static_cast<uint64_t>(n_keys_));
    file += bytes_;
    file.resize((file.size() + 31) / 32 * 32, '\0');
    std::ofstream(path_, std::ios::binary) << file;
    return path_;
  }

 private:
  static constexpr uint32_t kUint32 = 4;
  static constexpr uint32_t kInt32 = 5;
  static constexpr uint32_t kBool = 7;
  static constexpr uint32_t kString = 8;
  static constexpr uint32_t kArray = 9;

  template <typename T>
  void put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put_string(const std::string& value) {
    put<uint64_t>(value.size());
    bytes_ += value;
  }
  void begin(const std::string& key, uint32_t type) {
    put_string(key);
    put<uint32_t>(type);
    ++n_keys_;
  }

  std::string bytes_;
  size_t n_keys_ = 0;
  fs::path path_;
  static inline int next_file_number_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Golden tests, one instance per model (and per other pre-tokenizer over SmolLM2's vocabulary).

struct GoldenModel {
  std::string name;      // model file stem (every model here is installed by `make setup`)
  std::string pre = {};  // another tokenizer.ggml.pre over the model's vocabulary and merges

  std::string fixture_stem() const { return pre.empty() ? name : name + ".pre-" + pre; }
};

void PrintTo(const GoldenModel& model, std::ostream* os) { *os << model.fixture_stem(); }

// The tokenizer of `file` with tokenizer.ggml.pre set to `pre` and tokenizer.ggml.add_bos_token
// left out, as gen_tokenizer_fixtures.py makes it for MODEL:PRE.
std::unique_ptr<Tokenizer> tokenizer_with_pre(const gguf::GgufFile& file, const std::string& pre) {
  GgufWriter writer;
  writer.add_string("tokenizer.ggml.model", file.get_string("tokenizer.ggml.model"));
  writer.add_string("tokenizer.ggml.pre", pre);
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
    writer.add_string_array(key, file.get_string_array(key));
  }
  writer.add_int32_array("tokenizer.ggml.token_type", file.get_int_array("tokenizer.ggml.token_type"));
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"}) {
    if (file.has(key)) writer.add_uint32(key, static_cast<uint32_t>(file.get_int(key)));
  }
  for (const char* key : {"tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_eos_token"}) {
    if (file.has(key)) writer.add_bool(key, file.get_bool(key, false));
  }
  const auto variant = gguf::GgufFile::open(writer.write().string());
  return Tokenizer::from_gguf(*variant);
}

struct LoadedModel {
  std::unique_ptr<Tokenizer> tokenizer;
  json fixture;
};

class GoldenTokenizerTest : public ::testing::TestWithParam<GoldenModel> {
 protected:
  void SetUp() override {
    const GoldenModel& model = GetParam();
    const fs::path model_path = kSourceDir / "models" / (model.name + ".gguf");
    ASSERT_TRUE(fs::exists(model_path)) << model_path << " is missing; run `make setup`";
    static std::map<std::string, LoadedModel> cache;
    auto it = cache.find(model.fixture_stem());
    if (it == cache.end()) {
      LoadedModel loaded;
      const auto file = gguf::GgufFile::open(model_path.string());
      loaded.tokenizer = model.pre.empty() ? Tokenizer::from_gguf(*file) : tokenizer_with_pre(*file, model.pre);
      std::ifstream in(kSourceDir / "tests" / "golden" / "tokenizer" / (model.fixture_stem() + ".json"));
      ASSERT_TRUE(in) << "fixture " << model.fixture_stem() << " is missing";
      loaded.fixture = json::parse(in);
      it = cache.emplace(model.fixture_stem(), std::move(loaded)).first;
    }
    loaded_ = &it->second;
  }

  const Tokenizer& tokenizer() const { return *loaded_->tokenizer; }
  const json& fixture() const { return loaded_->fixture; }
  const json& cases() const { return loaded_->fixture.at("cases"); }

  LoadedModel* loaded_ = nullptr;
};

TEST_P(GoldenTokenizerTest, EncodeMatchesLlamaCpp) {
  size_t matched = 0;
  size_t matched_special = 0;
  for (const json& c : cases()) {
    const std::string text = c.at("text");
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    const auto expected_special = c.at("ids_special").get<std::vector<int32_t>>();
    const auto ids = tokenizer().encode(text, /*add_special=*/true, /*parse_special=*/false);
    const auto ids_special = tokenizer().encode(text, /*add_special=*/true, /*parse_special=*/true);
    EXPECT_EQ(ids, expected) << "text: " << json(text).dump();
    EXPECT_EQ(ids_special, expected_special) << "parse_special, text: " << json(text).dump();
    matched += ids == expected;
    matched_special += ids_special == expected_special;
  }
  std::cout << "[          ] " << GetParam().fixture_stem() << ": " << matched << "/" << cases().size()
            << " strings match llama.cpp, " << matched_special << "/" << cases().size()
            << " with parse_special\n";
}

TEST_P(GoldenTokenizerTest, DecodeMatchesLlamaCpp) {
  for (const json& c : cases()) {
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    const auto ids_special = c.at("ids_special").get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer().decode(ids), c.at("decoded").get<std::string>()) << json(c.at("text")).dump();
    EXPECT_EQ(tokenizer().decode(ids_special), c.at("decoded_special").get<std::string>()) << json(c.at("text")).dump();
  }
}

TEST_P(GoldenTokenizerTest, DecodeOfEncodeGivesTheTextBackWhereLlamaCppDoes) {
  size_t round_trips = 0;
  for (const json& c : cases()) {
    const std::string text = c.at("text");
    if (c.at("decoded") != text) continue;
    EXPECT_EQ(tokenizer().decode(tokenizer().encode(text, true, false)), text) << json(text).dump();
    ++round_trips;
  }
  EXPECT_GT(round_trips, cases().size() / 2);
}

TEST_P(GoldenTokenizerTest, TokenToPieceMatchesLlamaCpp) {
  for (const json& piece : fixture().at("pieces")) {
    const int32_t id = piece.at("id");
    EXPECT_EQ(tokenizer().token_to_piece(id), from_hex(piece.at("hex").get<std::string>())) << "token " << id;
  }
}

TEST_P(GoldenTokenizerTest, SpecialTokensComeFromMetadata) {
  EXPECT_EQ(tokenizer().vocab_size(), fixture().at("vocab_size").get<int32_t>());
  EXPECT_EQ(tokenizer().bos_id(), fixture().at("bos").get<int32_t>());
  EXPECT_EQ(tokenizer().eos_id(), fixture().at("eos").get<int32_t>());
  EXPECT_EQ(tokenizer().eot_id(), fixture().at("eot").get<int32_t>());
  EXPECT_EQ(tokenizer().vocab().add_bos(), fixture().at("add_bos").get<bool>());
  EXPECT_EQ(tokenizer().vocab().add_eos(), fixture().at("add_eos").get<bool>());
  const auto eog = fixture().at("eog_ids").get<std::vector<int32_t>>();
  EXPECT_EQ(tokenizer().vocab().end_of_generation_ids(), eog);
  for (int32_t id : eog) EXPECT_TRUE(tokenizer().is_end_of_generation(id)) << id;
  EXPECT_TRUE(tokenizer().is_end_of_generation(tokenizer().eos_id()));
  EXPECT_FALSE(tokenizer().is_end_of_generation(tokenizer().encode("Hello", false, false).front()));
  EXPECT_EQ(tokenizer().find_token(tokenizer().vocab().token(tokenizer().eos_id()).text), tokenizer().eos_id());
}

TEST_P(GoldenTokenizerTest, IncrementalDetokenizerNeverSplitsACharacter) {
  size_t held_back = 0;
  for (const json& c : cases()) {
    for (const char* key : {"ids", "ids_special"}) {
      const auto ids = c.at(key).get<std::vector<int32_t>>();
      IncrementalDetokenizer detokenizer(tokenizer());
      std::string streamed;
      for (int32_t id : ids) {
        const std::string chunk = detokenizer.push(id);
        EXPECT_TRUE(is_valid_utf8(chunk)) << json(c.at("text")).dump() << " token " << id;
        held_back += chunk.empty() && !tokenizer().decode_piece(id, false).empty();
        streamed += chunk;
      }
      streamed += detokenizer.flush();
      EXPECT_EQ(streamed, tokenizer().decode(ids)) << json(c.at("text")).dump();
    }
  }
  EXPECT_GT(held_back, 0U) << "no token ended inside a character; the corpus needs more emoji/CJK";
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTokenizerTest,
                         ::testing::Values(GoldenModel{"SmolLM2-135M-Instruct.Q4_1"},
                                           GoldenModel{"gemma-3-270m-q4_k_m"},
                                           GoldenModel{"SmolLM2-135M-Instruct.Q4_1", "llama3"},
                                           GoldenModel{"SmolLM2-135M-Instruct.Q4_1", "qwen2"},
                                           GoldenModel{"SmolLM2-135M-Instruct.Q4_1", "gpt-2"}),
                         [](const ::testing::TestParamInfo<GoldenModel>& param_info) {
                           std::string name = param_info.param.fixture_stem();
                           const auto not_alphanumeric = [](char c) {
                             return !std::isalnum(static_cast<unsigned char>(c));
                           };
                           std::replace_if(name.begin(), name.end(), not_alphanumeric, '_');
                           return name;
                         });

// ---------------------------------------------------------------------------------------------
// Small vocabularies and the parts on their own.

// The 256 GPT-2 byte characters as tokens (every text is encodable byte by byte) plus "Ġt".
std::vector<std::string> byte_level_tokens() {
  std::vector<std::string> tokens;
  char32_t next_stand_in = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
    std::string character;
    append_utf8(character, printable ? static_cast<char32_t>(byte) : next_stand_in++);
    tokens.push_back(character);
  }
  tokens.push_back("\xC4\xA0t");  // "Ġt"
  return tokens;
}

std::unique_ptr<Tokenizer> byte_level_tokenizer(const std::string& pre) {
  GgufWriter writer;
  writer.add_string("tokenizer.ggml.model", "gpt2");
  writer.add_string("tokenizer.ggml.pre", pre);
  writer.add_string_array("tokenizer.ggml.tokens", byte_level_tokens());
  writer.add_string_array("tokenizer.ggml.merges", {"\xC4\xA0 t"});
  writer.add_bool("tokenizer.ggml.add_bos_token", false);
  const auto file = gguf::GgufFile::open(writer.write().string());
  return Tokenizer::from_gguf(*file);
}

TEST(TokenizerFromGguf, UnknownPreTokenizerTypeIsAnErrorNamingIt) {
  try {
    byte_level_tokenizer("no-such-pre");
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("'no-such-pre'"), std::string::npos) << e.what();
  }
}

TEST(TokenizerFromGguf, UnsupportedTokenizerModelIsAnErrorNamingIt) {
  GgufWriter writer;
  writer.add_string("tokenizer.ggml.model", "bert");
  writer.add_string_array("tokenizer.ggml.tokens", {"[PAD]", "a"});
  const auto file = gguf::GgufFile::open(writer.write().string());
  try {
    Tokenizer::from_gguf(*file);
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("'bert'"), std::string::npos) << e.what();
  }
}

TEST(TokenizerFromGguf, DuplicateTokenTextIsAnError) {
  GgufWriter writer;
  writer.add_string("tokenizer.ggml.model", "llama");
  writer.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "a"});
  const auto file = gguf::GgufFile::open(writer.write().string());
  EXPECT_THROW(Tokenizer::from_gguf(*file), TokenizerError);
}

TEST(ByteLevelBpe, AppliesMergesAndCleansSpacesWhenTheVocabularySaysSo) {
  const auto tokenizer = byte_level_tokenizer("gpt-2");  // gpt-2 cleans spaces
  const auto ids = tokenizer->encode(" to", false, false);
  ASSERT_EQ(ids.size(), 2U);
  EXPECT_EQ(ids[0], 256);  // "Ġt"
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("Why ? Yes , it 's so . Don 't ' quote ' they 're", false, false)),
            "Why? Yes, it's so. Don 't'quote'they're");
}

// clean-up looks past a space, so the detokenizer holds spaces back; whatever the split into
// tokens, the stream must equal decode().
TEST(ByteLevelBpe, IncrementalDetokenizerMatchesDecodeWhenCleaningSpaces) {
  const auto tokenizer = byte_level_tokenizer("gpt-2");
  std::mt19937 random(1234);
  const std::string alphabet = " ' ' srevmd?.,!a\xC3\xA9";
  std::vector<std::string> texts = {" ' ' ' ", " 're 've 's 'm 'd 'll 't", "a , b . c ? d !", "  ''  ' ' 's"};
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    const size_t length = 1 + random() % 14;
    for (size_t j = 0; j < length; ++j) text += alphabet[random() % alphabet.size()];
    texts.push_back(text);
  }
  for (const std::string& text : texts) {
    const auto ids = tokenizer->encode(text, false, false);
    IncrementalDetokenizer detokenizer(*tokenizer);
    std::string streamed;
    for (int32_t id : ids) streamed += detokenizer.push(id);
    streamed += detokenizer.flush();
    ASSERT_EQ(streamed, tokenizer->decode(ids)) << json(text).dump();
  }
}

TEST(CleanUpSpaces, FollowsLlamaCpp) {
  EXPECT_EQ(clean_up_spaces("a ? b ! c . d , e"), "a? b! c. d, e");
  EXPECT_EQ(clean_up_spaces("x ' y"), "x'y");
  EXPECT_EQ(clean_up_spaces(" ' ' "), "'' ");  // the second apostrophe follows a consumed space
  EXPECT_EQ(clean_up_spaces("it 's I 'm we 're you 've"), "it's I'm we're you've");
  EXPECT_EQ(clean_up_spaces("don 't I 'd we 'll"), "don 't I 'd we 'll");
  EXPECT_EQ(clean_up_spaces(" ?"), "?");
}

TEST(PreTokenizer, EveryLlamaCppTypeCompilesAndCoversItsInput) {
  const std::string sample = "Hello World's 12345 \t\n  naïve 日本語 😀 <sentinel:7> IMGIMGABZ x\u0085y\u3000z  ";
  for (const PreTokenizerType& type : pre_tokenizer_types()) {
    const PreTokenizer pre_tokenizer(type.patterns);
    std::string joined;
    for (std::string_view word : pre_tokenizer.split(sample)) {
      EXPECT_FALSE(word.empty()) << type.names.front();
      joined += word;
    }
    EXPECT_EQ(joined, sample) << type.names.front();
  }
}

TEST(PreTokenizer, SplitsLikeGpt2) {
  const PreTokenizer gpt2(find_pre_tokenizer_type("gpt-2")->patterns);
  const auto words = gpt2.split("I'm  here's 42\tx  ");
  const std::vector<std::string_view> expected = {"I", "'m", " ", " here", "'s", " 42", "\t", "x", "  "};
  EXPECT_EQ(words, expected);
}

TEST(Utf8, CompletePrefixHoldsBackOnlyAnUnfinishedCharacter) {
  EXPECT_EQ(complete_utf8_prefix_length("ab"), 2U);
  EXPECT_EQ(complete_utf8_prefix_length("a\xE6\x97"), 1U);         // 日 missing its last byte
  EXPECT_EQ(complete_utf8_prefix_length("a\xE6\x97\xA5"), 4U);     // 日
  EXPECT_EQ(complete_utf8_prefix_length("\xF0\x9F\x98"), 0U);      // 😀 missing its last byte
  EXPECT_EQ(complete_utf8_prefix_length("\xF0\x9F\x98\x80"), 4U);  // 😀
  EXPECT_EQ(complete_utf8_prefix_length("a\x80"), 2U);             // a stray byte never completes
  EXPECT_EQ(replace_invalid_utf8("a\xFF" "b\xE6\x97"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace strata::tokenizer
