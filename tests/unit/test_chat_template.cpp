// The chat-template renderer against Python jinja2: golden fixtures made by
// tests/golden/gen_chat_fixtures.py, plus the errors for what is not supported.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat/chat_template.h"

namespace {

using strata::chat::ChatTemplate;
using strata::chat::ChatTemplateError;

const std::filesystem::path kFixtureDir = std::filesystem::path(STRATA_SOURCE_DIR) / "tests/golden/chat_templates";

std::vector<std::filesystem::path> fixture_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtureDir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The message of the ChatTemplateError thrown by `action`, or a failure if none is thrown.
template <class Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const ChatTemplateError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ChatTemplateError";
  return "";
}

std::string render(const std::string& source, const nlohmann::json& context = nlohmann::json::object()) {
  return ChatTemplate(source).render(context);
}

TEST(ChatTemplateGolden, MatchesJinja2ByteForByte) {
  std::size_t templates = 0;
  std::size_t conversations = 0;
  for (const auto& path : fixture_files()) {
    SCOPED_TRACE(path.filename().string());
    std::ifstream file(path);
    const auto fixture = nlohmann::ordered_json::parse(file);
    const ChatTemplate chat_template(fixture.at("template").get<std::string>());
    ++templates;
    for (const auto& fixture_case : fixture.at("cases")) {
      SCOPED_TRACE(fixture_case.at("name").get<std::string>());
      const auto& context = fixture_case.at("context");
      ++conversations;
      if (fixture_case.contains("expected_error")) {
        EXPECT_EQ(error_of([&] { chat_template.render_ordered(context); }), fixture_case.at("expected_error"));
        continue;
      }
      const std::string expected = fixture_case.at("expected");
      EXPECT_EQ(chat_template.render_ordered(context), expected);
      if (fixture_case.at("keys_sorted").get<bool>()) {
        EXPECT_EQ(chat_template.render(nlohmann::json::parse(context.dump())), expected);
      }
    }
  }
  EXPECT_GE(templates, 9u);
  EXPECT_GE(conversations, 20u);
}

TEST(ChatTemplateGolden, SmolLM2FixtureIsTheModelsOwnTemplate) {
  std::ifstream file(kFixtureDir / "smollm2.json");
  const auto fixture = nlohmann::json::parse(file);
  const std::string source = fixture.at("template");
  EXPECT_NE(source.find("You are a helpful AI assistant named SmolLM, trained by Hugging Face"), std::string::npos);
}

TEST(ChatTemplate, ParsesOnceAndRendersManyTimes) {
  const ChatTemplate chat_template("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                                   "{% if add_generation_prompt %}<assistant>{% endif %}");
  const nlohmann::json first = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"add_generation_prompt", true}};
  const nlohmann::json second = {{"messages", nlohmann::json::array()}, {"add_generation_prompt", false}};
  EXPECT_EQ(chat_template.render(first), "<user>hi<assistant>");
  EXPECT_EQ(chat_template.render(second), "");
  EXPECT_EQ(chat_template.render(first), "<user>hi<assistant>");
}

TEST(ChatTemplate, RenderOrderedKeepsKeyOrderWhileRenderSortsIt) {
  const ChatTemplate chat_template("{% for key, value in d.items() %}{{ key }}={{ value }};{% endfor %}{{ d | tojson }}");
  const std::string context = R"({"d": {"b": 1, "a": [2, "x"]}})";
  EXPECT_EQ(chat_template.render_ordered(nlohmann::ordered_json::parse(context)),
            R"(b=1;a=[2, 'x'];{"b": 1, "a": [2, "x"]})");
  EXPECT_EQ(chat_template.render(nlohmann::json::parse(context)), R"(a=[2, 'x'];b=1;{"a": [2, "x"], "b": 1})");
}

// Expected strings are what jinja2 3.1.4 prints for the same expressions.
TEST(ChatTemplate, PrintsValuesAsPython) {
  EXPECT_EQ(render("{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }} {{ -0.0 }} {{ 2**-1 }}"),
            "1e+16 1000000000000000.0 0.0001 1e-05 0.3333333333333333 -0.0 0.5");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5, (1,), {'k': \"it's\"}] }}"),
            "[1, 'a', None, True, 1.5, (1,), {'k': \"it's\"}]");
  EXPECT_EQ(render("{{ ['a\\x00\\u00a0\\u200b\"', \"'\", \"'\\\"\"] }}"), R"(['a\x00\xa0\u200b"', "'", '\'"'])");
  EXPECT_EQ(render("{{ namespace(a=1) }}|{{ undefined_name }}|{{ none }}|{{ (1, 2) }}"), "<Namespace {'a': 1}>||None|(1, 2)");
  EXPECT_EQ(render("{{ 2**3**2 }} {{ -2**2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"), "64 4 -4 2 3.0 0.5");
}

TEST(ChatTemplate, RaiseExceptionPropagatesItsMessageUnchanged) {
  const ChatTemplate chat_template(
      "{% for m in messages %}{% if m.role == 'tool' %}"
      "{{ raise_exception('Unsupported role: ' ~ m.role) }}{% endif %}{% endfor %}");
  const nlohmann::json context = {{"messages", {{{"role", "tool"}, {"content", ""}}}}};
  EXPECT_EQ(error_of([&] { chat_template.render(context); }), "Unsupported role: tool");
}

TEST(ChatTemplate, StrftimeNowFormatsTheCurrentTime) {
  const std::string date = render("{{ strftime_now('%Y-%m-%d') }}");
  EXPECT_TRUE(std::regex_match(date, std::regex(R"(\d{4}-\d{2}-\d{2})"))) << date;
}

TEST(ChatTemplateErrors, UnsupportedConstructsAreNamedAtParseTime) {
  const std::pair<const char*, const char*> cases[] = {
      {"line 1\n\n{{ x | wordcount }}", "unsupported filter 'wordcount' at line 3"},
      {"{% if x is escaped %}{% endif %}", "unsupported test 'escaped' at line 1"},
      {"{% include 'other.jinja' %}", "unsupported tag 'include' at line 1"},
      {"{% extends 'base.jinja' %}", "unsupported tag 'extends' at line 1"},
      {"{% call m() %}x{% endcall %}", "unsupported tag 'call' at line 1"},
      {"{% do items.append(1) %}", "unsupported tag 'do' at line 1"},
      {"{% for x in xs recursive %}{% endfor %}", "unsupported recursive for loop at line 1"},
      {"{{ f(*args) }}", "unsupported argument unpacking in call at line 1"},
      {"{{ '\\N{EM DASH}' }}", "unsupported \\N{...} escape in string at line 1"},
  };
  for (const auto& [source, message] : cases) {
    SCOPED_TRACE(source);
    EXPECT_EQ(error_of([&] { ChatTemplate{source}; }), message);
  }
}

TEST(ChatTemplateErrors, UnsupportedRuntimeFeaturesAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"{{ 'x'.zfill(3) }}", "unsupported method 'str.zfill' at line 1"},
      {"\n{{ cycler('a', 'b') }}", "unsupported global 'cycler' at line 2"},
      {"{{ '{:>4}'.format(1) }}", "unsupported str.format replacement field (only {}, {0}, {name}, !r and !s are) at line 1"},
      {"{{ '%5s' % 'x' }}", "unsupported format conversion '%5' (only %s, %r, %d, %i) at line 1"},
  };
  for (const auto& [source, message] : cases) {
    SCOPED_TRACE(source);
    EXPECT_EQ(error_of([&] { render(source); }), message);
  }
}

TEST(ChatTemplateErrors, SyntaxErrorsReportTheLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"{% if x %}\n\n{% endfor %}", "unexpected tag 'endfor' at line 3"},
      {"ok\n{{ 1 + }}", "unexpected '}}', expected an expression at line 2"},
      {"{% if x %}\nno end", "unexpected end of template, expected 'endif' at line 2"},
      {"text {# never closed", "missing end of comment tag at line 1"},
      {"\n{% break %}", "'break' outside of a loop at line 2"},
      {"{{ 'open }}", "unterminated string literal at line 1"},
      {"{{ x ! y }}", "unexpected char '!' at line 1"},
      {"{% for x in %}{% endfor %}", "unexpected '%}', expected an expression at line 1"},
  };
  for (const auto& [source, message] : cases) {
    SCOPED_TRACE(source);
    EXPECT_EQ(error_of([&] { ChatTemplate{source}; }), message);
  }
}

TEST(ChatTemplateErrors, RuntimeErrorsReportTheLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"{{ x.y }}", "'x' is undefined at line 1"},
      {"{% set d = {} %}\n{{ d.missing.deeper }}", "'dict object' has no attribute 'missing' at line 2"},
      {"\n\n{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str' at line 3"},
      {"{{ [1].append(2) }}", "access to attribute 'append' of 'list' object is unsafe. at line 1"},
      {"{{ 1 // 0 }}", "integer division or modulo by zero at line 1"},
      {"{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object 'x' at line 1"},
  };
  for (const auto& [source, message] : cases) {
    SCOPED_TRACE(source);
    EXPECT_EQ(error_of([&] { render(source); }), message);
  }
}

TEST(ChatTemplateErrors, ContextMustBeAnObject) {
  EXPECT_EQ(error_of([] { render("x", nlohmann::json::array()); }), "chat template context must be a JSON object");
}

}  // namespace
