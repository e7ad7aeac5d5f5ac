#include "engine/chat/jinja_filters.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <utility>

#include "engine/chat/jinja_access.h"
#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_tests.h"
#include "engine/chat/jinja_unicode.h"

namespace strata::chat {
namespace {

// --- shared helpers ---

// Floats at or beyond this magnitude do not fit the 64-bit integers this renderer uses.
constexpr double kInt64Magnitude = 9.2e18;

Value lower_if_string(const Value& v) { return v.is_string() ? Value::string(unicode::lower(v.as_string())) : v; }

// jinja2's attribute getter for map / sort / selectattr...: "a.b.0" looks up each part as an
// item (digits as integer indexes).
Value lookup_path(Value item, const Value& path) {
  if (path.is_integral()) return get_item(item, path);
  const std::string text = to_str(path);
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string part = text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool is_index = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    item = get_item(item, is_index ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) return item;
    start = dot + 1;
  }
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t comma = text.find(','); comma != std::string::npos; comma = text.find(',', start)) {
    parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

// The key a sorting or deduplicating filter compares: the attribute (or comma-separated
// attributes) if given, lower-cased strings unless case sensitive.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  auto normalize = [&](const Value& v) { return case_sensitive ? v : lower_if_string(v); };
  if (attribute.is_none()) return normalize(item);
  if (!attribute.is_string() || attribute.as_string().find(',') == std::string::npos) {
    return normalize(lookup_path(item, attribute));
  }
  ValueList keys;
  for (const std::string& part : split_commas(attribute.as_string())) {
    keys.push_back(normalize(lookup_path(item, Value::string(part))));
  }
  return Value::list(std::move(keys));
}

ValueList sorted(ValueList items, bool reverse, const std::function<Value(const Value&)>& key) {
  std::vector<std::pair<Value, Value>> keyed;
  keyed.reserve(items.size());
  for (Value& item : items) keyed.emplace_back(key(item), std::move(item));
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? compare(b.first, a.first) < 0 : compare(a.first, b.first) < 0;
  });
  ValueList out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return out;
}

CallArgs drop_positional(const CallArgs& args, std::size_t count) {
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(std::min(count, args.positional.size())),
                         args.positional.end());
  rest.keyword = args.keyword;
  return rest;
}

std::optional<std::int64_t> parse_python_int(std::string text, int base) {
  text = unicode::strip(text, nullptr, true, true);
  std::string digits;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool between_digits = i > 0 && i + 1 < text.size() && std::isalnum(static_cast<unsigned char>(text[i - 1])) &&
                                std::isalnum(static_cast<unsigned char>(text[i + 1]));
    if (text[i] == '_' && between_digits) continue;
    digits += text[i];
  }
  if (digits.empty() || std::isspace(static_cast<unsigned char>(digits.back()))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(digits.c_str(), &end, base);
  if (errno != 0 || *end != '\0' || !std::isalnum(static_cast<unsigned char>(digits.back()))) return std::nullopt;
  return value;
}

std::optional<double> parse_python_float(std::string text) {
  text = unicode::strip(text, nullptr, true, true);
  const std::string lowered = unicode::lower(text);
  const std::string unsigned_part = lowered.starts_with('-') || lowered.starts_with('+') ? lowered.substr(1) : lowered;
  const bool special = unsigned_part == "inf" || unsigned_part == "infinity" || unsigned_part == "nan";
  const bool plain = !unsigned_part.empty() &&
                     unsigned_part.find_first_not_of("0123456789.e+-") == std::string::npos &&
                     unsigned_part.find_first_of("0123456789") != std::string::npos;
  if (!special && !plain) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(lowered.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return value;
}

// Python's round(x, ndigits) for floats: exact half-even rounding of the binary value.
double round_half_even(double value, std::int64_t digits) {
  if (digits >= 0) {
    char buffer[400];
    std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(std::min<std::int64_t>(digits, 300)), value);
    return std::strtod(buffer, nullptr);
  }
  const double scale = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(value / scale) * scale;
}

// --- filters ---

Value filter_trim(const Value& input, const CallArgs& args) {
  const Value chars = bind_arguments("trim", args, {{"chars", Value::none()}})[0];
  const std::string chars_text = to_str(chars);
  return Value::string(unicode::strip(to_str(input), chars.is_none() ? nullptr : &chars_text, true, true));
}

Value filter_length(const Value& input, const CallArgs& args) {
  bind_arguments("length", args, {});
  return Value::integer(static_cast<std::int64_t>(length(input)));
}

Value filter_first(const Value& input, const CallArgs& args) {
  bind_arguments("first", args, {});
  const ValueList items = iterate(input);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value filter_last(const Value& input, const CallArgs& args) {
  bind_arguments("last", args, {});
  const ValueList items = iterate(input);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value filter_join(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("join", args, {{"d", Value::string("")}, {"attribute", Value::none()}});
  const std::string separator = to_str(values[0]);
  std::string out;
  bool first = true;
  for (const Value& item : iterate(input)) {
    if (!first) out += separator;
    first = false;
    out += to_str(values[1].is_none() ? item : lookup_path(item, values[1]));
  }
  return Value::string(std::move(out));
}

template <std::string (*Transform)(std::string_view)>
Value string_transform(const Value& input, const CallArgs& args) {
  bind_arguments("filter", args, {});
  return Value::string(Transform(to_str(input)));
}

// jinja2's title filter capitalizes after "-", whitespace and opening brackets (unlike str.title).
std::string title_words(std::string_view text) {
  std::string out;
  bool word_start = true;
  for (char32_t c : unicode::decode(text)) {
    std::string one;
    unicode::append(one, c);
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || unicode::is_space(c);
    out += separator ? one : word_start ? unicode::upper(one) : unicode::lower(one);
    word_start = separator;
  }
  return out;
}

Value filter_default(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("default", args, {{"default_value", Value::string("")}, {"boolean", Value::boolean(false)}});
  const bool use_default = input.is_undefined() || (truthy(values[1]) && !truthy(input));
  return use_default ? values[0] : input;
}

Value filter_replace(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("replace", args, {{"old"}, {"new"}, {"count", Value::none()}});
  CallArgs replace_args;
  replace_args.positional = {Value::string(to_str(values[0])), Value::string(to_str(values[1])),
                             values[2].is_none() ? Value::integer(-1) : values[2]};
  return find_method(Value::string(to_str(input)), "replace")->as_callable().function(replace_args);
}

Value filter_tojson(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("tojson", args,
                                     {{"ensure_ascii", Value::boolean(false)},
                                      {"indent", Value::none()},
                                      {"separators", Value::none()},
                                      {"sort_keys", Value::boolean(false)}});
  JsonDumpOptions options;
  options.ensure_ascii = truthy(values[0]);
  const Value& indent = values[1];
  if (indent.is_string()) {
    options.indent = indent.as_string();
  } else if (indent.is_integral()) {
    options.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(indent.as_int(), 0)), ' ');
  } else if (!indent.is_none()) {
    throw RenderError("tojson indent must be an integer or a string");
  }
  if (!values[2].is_none()) {
    if (!values[2].is_sequence() || values[2].as_list().size() != 2 || !values[2].as_list()[0].is_string() ||
        !values[2].as_list()[1].is_string()) {
      throw RenderError("tojson separators must be a pair of strings");
    }
    options.item_separator = values[2].as_list()[0].as_string();
    options.key_separator = values[2].as_list()[1].as_string();
  }
  options.sort_keys = truthy(values[3]);
  return Value::string(dump_json(input, options));
}

Value filter_string(const Value& input, const CallArgs& args) {
  bind_arguments("string", args, {});
  return input.is_string() ? input : Value::string(to_str(input));
}

Value filter_int(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("int", args, {{"default", Value::integer(0)}, {"base", Value::integer(10)}});
  if (input.is_undefined()) throw RenderError(input.undefined_hint());
  if (input.is_integral()) return Value::integer(input.as_int());
  if (input.kind() == Value::Kind::kFloat) {
    const double d = input.as_double();
    if (std::isinf(d)) throw RenderError("cannot convert float infinity to integer");
    if (std::isnan(d) || std::fabs(d) >= kInt64Magnitude) return values[0];
    return Value::integer(static_cast<std::int64_t>(d));
  }
  if (input.is_string()) {
    if (!values[1].is_integral()) throw RenderError("int base must be an integer");
    if (auto parsed = parse_python_int(input.as_string(), static_cast<int>(values[1].as_int()))) return Value::integer(*parsed);
    if (auto parsed = parse_python_float(input.as_string()); parsed && std::isfinite(*parsed) && std::fabs(*parsed) < kInt64Magnitude) {
      return Value::integer(static_cast<std::int64_t>(*parsed));
    }
  }
  return values[0];
}

Value filter_float(const Value& input, const CallArgs& args) {
  const Value fallback = bind_arguments("float", args, {{"default", Value::floating(0.0)}})[0];
  if (input.is_undefined()) throw RenderError(input.undefined_hint());
  if (input.is_number()) return Value::floating(input.as_double());
  if (input.is_string()) {
    if (auto parsed = parse_python_float(input.as_string())) return Value::floating(*parsed);
  }
  return fallback;
}

Value filter_list(const Value& input, const CallArgs& args) {
  bind_arguments("list", args, {});
  return Value::list(iterate(input));
}

Value filter_reverse(const Value& input, const CallArgs& args) {
  bind_arguments("reverse", args, {});
  if (input.is_string()) {
    std::u32string text = unicode::decode(input.as_string());
    std::reverse(text.begin(), text.end());
    return Value::string(unicode::encode(text));
  }
  ValueList items = iterate(input);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value filter_sort(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("sort", args,
                                     {{"reverse", Value::boolean(false)},
                                      {"case_sensitive", Value::boolean(false)},
                                      {"attribute", Value::none()}});
  const bool case_sensitive = truthy(values[1]);
  return Value::list(sorted(iterate(input), truthy(values[0]),
                            [&](const Value& item) { return sort_key(item, values[2], case_sensitive); }));
}

Value filter_unique(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("unique", args, {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
  ValueList seen;
  ValueList out;
  for (const Value& item : iterate(input)) {
    Value key = sort_key(item, values[1], truthy(values[0]));
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(std::move(key));
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value filter_map(const Value& input, const CallArgs& args) {
  ValueList out;
  if (args.positional.empty()) {
    const auto values = bind_arguments("map", args, {{"attribute"}, {"default", Value::none()}});
    for (const Value& item : iterate(input)) {
      Value mapped = lookup_path(item, values[0]);
      out.push_back(mapped.is_undefined() && !values[1].is_none() ? values[1] : mapped);
    }
    return Value::list(std::move(out));
  }
  const std::string name = to_str(args.positional.front());
  const FilterFunction* filter = find_filter(name);
  if (filter == nullptr) throw RenderError("unsupported filter '" + name + "'");
  const CallArgs rest = drop_positional(args, 1);
  for (const Value& item : iterate(input)) out.push_back((*filter)(item, rest));
  return Value::list(std::move(out));
}

// select / reject / selectattr / rejectattr: keep items whose (attribute's) test result is `keep`.
Value select_items(const Value& input, const CallArgs& args, bool by_attribute, bool keep) {
  std::size_t consumed = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) throw RenderError("selectattr / rejectattr need an attribute");
    attribute = args.positional[consumed++];
  }
  const TestFunction* test = nullptr;
  if (args.positional.size() > consumed) {
    const std::string name = to_str(args.positional[consumed++]);
    test = find_test(name);
    if (test == nullptr) throw RenderError("unsupported test '" + name + "'");
  }
  const CallArgs test_args = drop_positional(args, consumed);
  ValueList out;
  for (const Value& item : iterate(input)) {
    const Value subject = by_attribute ? lookup_path(item, attribute) : item;
    const bool passed = test != nullptr ? (*test)(subject, test_args) : truthy(subject);
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value filter_select(const Value& input, const CallArgs& args) { return select_items(input, args, false, true); }
Value filter_reject(const Value& input, const CallArgs& args) { return select_items(input, args, false, false); }
Value filter_selectattr(const Value& input, const CallArgs& args) { return select_items(input, args, true, true); }
Value filter_rejectattr(const Value& input, const CallArgs& args) { return select_items(input, args, true, false); }

Value filter_indent(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("indent", args,
                                     {{"width", Value::integer(4)}, {"first", Value::boolean(false)}, {"blank", Value::boolean(false)}});
  const std::string indentation =
      values[0].is_string() ? values[0].as_string()
                            : std::string(static_cast<std::size_t>(std::max<std::int64_t>(values[0].as_int(), 0)), ' ');
  if (input.is_undefined()) throw RenderError(input.undefined_hint());
  // Like jinja2: append a newline so splitlines keeps a trailing empty line, then indent every
  // line but the first (and blank ones only when asked).
  const std::vector<std::string> lines = unicode::split_lines(to_str(input) + "\n", false);
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    const bool indents = i == 0 ? truthy(values[1]) : (truthy(values[2]) || !lines[i].empty());
    if (indents) out += indentation;
    out += lines[i];
  }
  return Value::string(std::move(out));
}

Value filter_abs(const Value& input, const CallArgs& args) {
  bind_arguments("abs", args, {});
  if (input.kind() == Value::Kind::kFloat) return Value::floating(std::fabs(input.as_double()));
  if (input.is_integral()) {
    if (input.as_int() == INT64_MIN) throw RenderError("integer overflow (values beyond 64 bits are not supported)");
    return Value::integer(std::llabs(input.as_int()));
  }
  throw RenderError("bad operand type for abs(): '" + type_name(input) + "'");
}

Value filter_round(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("round", args, {{"precision", Value::integer(0)}, {"method", Value::string("common")}});
  if (!input.is_number()) throw RenderError("round() needs a number, not " + type_name(input));
  if (!values[0].is_integral()) throw RenderError("round precision must be an integer");
  const std::int64_t precision = values[0].as_int();
  const std::string method = to_str(values[1]);
  if (method == "common") {
    if (input.kind() == Value::Kind::kFloat) return Value::floating(round_half_even(input.as_double(), precision));
    if (precision >= 0) return Value::integer(input.as_int());
    return Value::integer(static_cast<std::int64_t>(round_half_even(input.as_double(), precision)));
  }
  if (method != "ceil" && method != "floor") throw RenderError("method must be common, ceil or floor");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = input.as_double() * scale;
  return Value::floating((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value filter_safe(const Value& input, const CallArgs& args) {
  bind_arguments("safe", args, {});
  return Value::string(to_str(input), true);
}

Value filter_escape(const Value& input, const CallArgs& args) {
  bind_arguments("escape", args, {});
  return input.is_markup() ? input : Value::string(escape_html(to_str(input)), true);
}

Value filter_items(const Value& input, const CallArgs& args) {
  bind_arguments("items", args, {});
  if (input.is_undefined()) return Value::list({});
  if (!input.is_dict()) throw RenderError("Can only get item pairs from a mapping.");
  return find_method(input, "items")->as_callable().function({});
}

Value filter_dictsort(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("dictsort", args,
                                     {{"case_sensitive", Value::boolean(false)},
                                      {"by", Value::string("key")},
                                      {"reverse", Value::boolean(false)}});
  const std::string by = to_str(values[1]);
  if (by != "key" && by != "value") throw RenderError("You can only sort by either \"key\" or \"value\"");
  if (!input.is_dict()) throw RenderError("dictsort needs a mapping, not " + type_name(input));
  const std::size_t position = by == "key" ? 0 : 1;
  const bool case_sensitive = truthy(values[0]);
  const ValueList items = find_method(input, "items")->as_callable().function({}).as_list();
  return Value::list(sorted(items, truthy(values[2]), [&](const Value& pair) {
    const Value& part = pair.as_list()[position];
    return case_sensitive ? part : lower_if_string(part);
  }));
}

Value filter_batch(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("batch", args, {{"linecount"}, {"fill_with", Value::none()}});
  if (!values[0].is_integral() || values[0].as_int() <= 0) throw RenderError("batch linecount must be a positive integer");
  const auto size = static_cast<std::size_t>(values[0].as_int());
  ValueList batches;
  ValueList current;
  for (const Value& item : iterate(input)) {
    current.push_back(item);
    if (current.size() == size) batches.push_back(Value::list(std::exchange(current, {})));
  }
  if (!current.empty()) {
    if (!values[1].is_none()) current.resize(size, values[1]);
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(batches));
}

Value filter_sum(const Value& input, const CallArgs& args) {
  const auto values = bind_arguments("sum", args, {{"attribute", Value::none()}, {"start", Value::integer(0)}});
  Value total = values[1];
  for (const Value& item : iterate(input)) {
    total = apply_binary(ast::BinaryOp::kAdd, total, values[0].is_none() ? item : lookup_path(item, values[0]));
  }
  return total;
}

// min / max: the first item whose key is smallest (or largest).
Value extreme_item(const Value& input, const CallArgs& args, std::string_view name, int wanted_order) {
  const auto values = bind_arguments(name, args, {{"case_sensitive", Value::boolean(false)}, {"attribute", Value::none()}});
  const ValueList items = iterate(input);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool case_sensitive = truthy(values[0]);
  std::size_t best = 0;
  Value best_key = sort_key(items[0], values[1], case_sensitive);
  for (std::size_t i = 1; i < items.size(); ++i) {
    Value key = sort_key(items[i], values[1], case_sensitive);
    if (compare(key, best_key) == wanted_order) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

Value filter_min(const Value& input, const CallArgs& args) { return extreme_item(input, args, "min", -1); }
Value filter_max(const Value& input, const CallArgs& args) { return extreme_item(input, args, "max", 1); }

Value filter_title(const Value& input, const CallArgs& args) {
  bind_arguments("title", args, {});
  return Value::string(title_words(to_str(input)));
}

constexpr std::pair<std::string_view, FilterFunction> kFilters[] = {
    {"trim", filter_trim},
    {"length", filter_length},
    {"count", filter_length},
    {"first", filter_first},
    {"last", filter_last},
    {"join", filter_join},
    {"upper", string_transform<unicode::upper>},
    {"lower", string_transform<unicode::lower>},
    {"capitalize", string_transform<unicode::capitalize>},
    {"title", filter_title},
    {"default", filter_default},
    {"d", filter_default},
    {"replace", filter_replace},
    {"tojson", filter_tojson},
    {"string", filter_string},
    {"int", filter_int},
    {"float", filter_float},
    {"list", filter_list},
    {"reverse", filter_reverse},
    {"sort", filter_sort},
    {"unique", filter_unique},
    {"map", filter_map},
    {"select", filter_select},
    {"reject", filter_reject},
    {"selectattr", filter_selectattr},
    {"rejectattr", filter_rejectattr},
    {"indent", filter_indent},
    {"abs", filter_abs},
    {"round", filter_round},
    {"safe", filter_safe},
    {"escape", filter_escape},
    {"e", filter_escape},
    {"items", filter_items},
    {"dictsort", filter_dictsort},
    {"batch", filter_batch},
    {"sum", filter_sum},
    {"min", filter_min},
    {"max", filter_max},
};

}  // namespace

const FilterFunction* find_filter(std::string_view name) {
  for (const auto& [filter_name, function] : kFilters) {
    if (filter_name == name) return &function;
  }
  return nullptr;
}

}  // namespace strata::chat
