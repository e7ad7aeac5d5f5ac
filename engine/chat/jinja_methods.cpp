#include "engine/chat/jinja_methods.h"

#include <algorithm>
#include <array>
#include <utility>

#include "engine/chat/jinja_args.h"
#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_unicode.h"

namespace strata::chat {
namespace {

using StringMethod = Value (*)(const std::string& self, const CallArgs& args);
using ContainerMethod = Value (*)(const Value& self, const CallArgs& args);

const std::string& expect_string(const Value& v, std::string_view what) {
  if (!v.is_string()) throw RenderError(std::string(what) + " must be str, not " + type_name(v));
  return v.as_string();
}

std::int64_t expect_int(const Value& v, std::string_view what) {
  if (!v.is_integral()) throw RenderError(std::string(what) + " must be an integer, not " + type_name(v));
  return v.as_int();
}

// The bounds Python uses for the optional start/end arguments of find, count, startswith...
std::pair<std::size_t, std::size_t> window(std::size_t length, const Value& start, const Value& end) {
  auto clamp = [length](const Value& bound, std::size_t if_none) -> std::size_t {
    if (bound.is_none()) return if_none;
    std::int64_t i = expect_int(bound, "slice index");
    if (i < 0) i += static_cast<std::int64_t>(length);
    return static_cast<std::size_t>(std::clamp<std::int64_t>(i, 0, static_cast<std::int64_t>(length)));
  };
  const std::size_t first = clamp(start, 0);
  return {first, std::max(first, clamp(end, length))};
}

Value strip_method(const std::string& self, const CallArgs& args, std::string_view name, bool left, bool right) {
  const Value chars = bind_arguments(name, args, {{"chars", Value::none()}})[0];
  if (chars.is_none()) return Value::string(unicode::strip(self, nullptr, left, right));
  return Value::string(unicode::strip(self, &expect_string(chars, "strip chars"), left, right));
}

Value str_strip(const std::string& self, const CallArgs& args) { return strip_method(self, args, "str.strip", true, true); }
Value str_lstrip(const std::string& self, const CallArgs& args) { return strip_method(self, args, "str.lstrip", true, false); }
Value str_rstrip(const std::string& self, const CallArgs& args) { return strip_method(self, args, "str.rstrip", false, true); }

ValueList to_string_values(std::vector<std::string> parts) {
  ValueList values;
  for (std::string& part : parts) values.push_back(Value::string(std::move(part)));
  return values;
}

// str.split / str.rsplit on runs of whitespace.
std::vector<std::string> split_whitespace(const std::string& self, std::int64_t max_split, bool from_right) {
  std::u32string text = unicode::decode(self);
  if (from_right) std::reverse(text.begin(), text.end());
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (true) {
    while (i < text.size() && unicode::is_space(text[i])) ++i;
    if (i == text.size()) break;
    // Once maxsplit is reached the rest is one part, with its far-side whitespace kept.
    std::size_t end = text.size();
    if (max_split < 0 || static_cast<std::int64_t>(parts.size()) < max_split) {
      end = i;
      while (end < text.size() && !unicode::is_space(text[end])) ++end;
    }
    std::u32string part = text.substr(i, end - i);
    if (from_right) std::reverse(part.begin(), part.end());
    parts.push_back(unicode::encode(part));
    i = end;
  }
  if (from_right) std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> split_on(const std::string& self, const std::string& separator, std::int64_t max_split,
                                  bool from_right) {
  if (separator.empty()) throw RenderError("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    std::size_t start = 0;
    for (std::size_t hit = self.find(separator); hit != std::string::npos; hit = self.find(separator, start)) {
      if (max_split >= 0 && static_cast<std::int64_t>(parts.size()) == max_split) break;
      parts.push_back(self.substr(start, hit - start));
      start = hit + separator.size();
    }
    parts.push_back(self.substr(start));
    return parts;
  }
  std::size_t end = self.size();
  while (end >= separator.size() && (max_split < 0 || static_cast<std::int64_t>(parts.size()) < max_split)) {
    const std::size_t hit = self.rfind(separator, end - separator.size());
    if (hit == std::string::npos) break;
    parts.push_back(self.substr(hit + separator.size(), end - hit - separator.size()));
    end = hit;
  }
  parts.push_back(self.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

Value split_method(const std::string& self, const CallArgs& args, std::string_view name, bool from_right) {
  const auto values = bind_arguments(name, args, {{"sep", Value::none()}, {"maxsplit", Value::integer(-1)}});
  const std::int64_t max_split = expect_int(values[1], "maxsplit");
  if (values[0].is_none()) return Value::list(to_string_values(split_whitespace(self, max_split, from_right)));
  return Value::list(to_string_values(split_on(self, expect_string(values[0], "separator"), max_split, from_right)));
}

Value str_split(const std::string& self, const CallArgs& args) { return split_method(self, args, "str.split", false); }
Value str_rsplit(const std::string& self, const CallArgs& args) { return split_method(self, args, "str.rsplit", true); }

Value str_splitlines(const std::string& self, const CallArgs& args) {
  const Value keep_ends = bind_arguments("str.splitlines", args, {{"keepends", Value::boolean(false)}})[0];
  return Value::list(to_string_values(unicode::split_lines(self, truthy(keep_ends))));
}

template <std::string (*Transform)(std::string_view)>
Value case_method(const std::string& self, const CallArgs& args) {
  bind_arguments("str method", args, {});
  return Value::string(Transform(self));
}

Value affix_method(const std::string& self, const CallArgs& args, std::string_view name, bool at_start) {
  const auto values = bind_arguments(name, args, {{"affix"}, {"start", Value::none()}, {"end", Value::none()}});
  const std::u32string text = unicode::decode(self);
  const auto [first, last] = window(text.size(), values[1], values[2]);
  const std::u32string_view region = std::u32string_view(text).substr(first, last - first);
  const ValueList candidates = values[0].kind() == Value::Kind::kTuple ? values[0].as_list() : ValueList{values[0]};
  for (const Value& candidate : candidates) {
    const std::u32string affix = unicode::decode(expect_string(candidate, std::string(name) + " argument"));
    if (at_start ? region.starts_with(affix) : region.ends_with(affix)) return Value::boolean(true);
  }
  return Value::boolean(false);
}

Value str_startswith(const std::string& self, const CallArgs& args) { return affix_method(self, args, "str.startswith", true); }
Value str_endswith(const std::string& self, const CallArgs& args) { return affix_method(self, args, "str.endswith", false); }

Value str_removeprefix(const std::string& self, const CallArgs& args) {
  const Value prefix_value = bind_arguments("str.removeprefix", args, {{"prefix"}})[0];
  const std::string& prefix = expect_string(prefix_value, "prefix");
  return Value::string(self.starts_with(prefix) ? self.substr(prefix.size()) : self);
}

Value str_removesuffix(const std::string& self, const CallArgs& args) {
  const Value suffix_value = bind_arguments("str.removesuffix", args, {{"suffix"}})[0];
  const std::string& suffix = expect_string(suffix_value, "suffix");
  return Value::string(self.ends_with(suffix) && !suffix.empty() ? self.substr(0, self.size() - suffix.size()) : self);
}

Value str_replace(const std::string& self, const CallArgs& args) {
  const auto values = bind_arguments("str.replace", args, {{"old"}, {"new"}, {"count", Value::integer(-1)}});
  const std::string& old_text = expect_string(values[0], "replace argument");
  const std::string& new_text = expect_string(values[1], "replace argument");
  std::int64_t remaining = expect_int(values[2], "count");
  std::string out;
  if (old_text.empty()) {
    // Python inserts the replacement before every character and at the end.
    const std::u32string text = unicode::decode(self);
    for (char32_t c : text) {
      if (remaining-- != 0) out += new_text;
      unicode::append(out, c);
    }
    if (remaining != 0) out += new_text;
    return Value::string(std::move(out));
  }
  std::size_t start = 0;
  for (std::size_t hit = self.find(old_text); hit != std::string::npos && remaining-- != 0;
       hit = self.find(old_text, start)) {
    out.append(self, start, hit - start);
    out += new_text;
    start = hit + old_text.size();
  }
  out.append(self, start);
  return Value::string(std::move(out));
}

// The code-point index of sub within the start/end window, searching from either side; -1 if absent.
std::int64_t find_index(const std::string& self, const CallArgs& args, std::string_view name, bool from_right) {
  const auto values = bind_arguments(name, args, {{"sub"}, {"start", Value::none()}, {"end", Value::none()}});
  const std::u32string text = unicode::decode(self);
  const std::u32string sub = unicode::decode(expect_string(values[0], std::string(name) + " argument"));
  const auto [first, last] = window(text.size(), values[1], values[2]);
  const std::u32string_view region = std::u32string_view(text).substr(first, last - first);
  const std::size_t hit = from_right ? region.rfind(sub) : region.find(sub);
  return hit == std::u32string_view::npos ? -1 : static_cast<std::int64_t>(first + hit);
}

Value str_find(const std::string& self, const CallArgs& args) { return Value::integer(find_index(self, args, "str.find", false)); }
Value str_rfind(const std::string& self, const CallArgs& args) { return Value::integer(find_index(self, args, "str.rfind", true)); }

Value index_or_fail(std::int64_t index) {
  if (index < 0) throw RenderError("substring not found");
  return Value::integer(index);
}
Value str_index(const std::string& self, const CallArgs& args) { return index_or_fail(find_index(self, args, "str.index", false)); }
Value str_rindex(const std::string& self, const CallArgs& args) { return index_or_fail(find_index(self, args, "str.rindex", true)); }

Value str_count(const std::string& self, const CallArgs& args) {
  const auto values = bind_arguments("str.count", args, {{"sub"}, {"start", Value::none()}, {"end", Value::none()}});
  const std::u32string text = unicode::decode(self);
  const std::u32string sub = unicode::decode(expect_string(values[0], "str.count argument"));
  const auto [first, last] = window(text.size(), values[1], values[2]);
  const std::u32string_view region = std::u32string_view(text).substr(first, last - first);
  if (sub.empty()) return Value::integer(static_cast<std::int64_t>(region.size() + 1));
  std::int64_t count = 0;
  for (std::size_t hit = region.find(sub); hit != std::u32string_view::npos; hit = region.find(sub, hit + sub.size())) {
    ++count;
  }
  return Value::integer(count);
}

Value str_join(const std::string& self, const CallArgs& args) {
  const ValueList items = iterate(bind_arguments("str.join", args, {{"iterable"}})[0]);
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      throw RenderError("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(items[i]) + " found");
    }
    if (i > 0) out += self;
    out += items[i].as_string();
  }
  return Value::string(std::move(out));
}

// str.format with plain replacement fields: {}, {0}, {name}, optionally with !r or !s.
Value str_format(const std::string& self, const CallArgs& args) {
  std::string out;
  std::size_t next_auto_index = 0;
  bool used_manual = false;
  for (std::size_t i = 0; i < self.size(); ++i) {
    const char c = self[i];
    if ((c == '{' || c == '}') && i + 1 < self.size() && self[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') throw RenderError("Single '}' encountered in format string");
    if (c != '{') {
      out += c;
      continue;
    }
    const std::size_t close = self.find('}', i);
    if (close == std::string::npos) throw RenderError("Single '{' encountered in format string");
    std::string field = self.substr(i + 1, close - i - 1);
    i = close;
    char conversion = 's';
    if (const std::size_t bang = field.find('!'); bang != std::string::npos) {
      conversion = bang + 1 < field.size() ? field[bang + 1] : '?';
      field.resize(bang);
    }
    if (field.find_first_of(":.[") != std::string::npos || field.size() > 9 || (conversion != 's' && conversion != 'r')) {
      throw RenderError("unsupported str.format replacement field (only {}, {0}, {name}, !r and !s are)");
    }
    const Value* value = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const bool automatic = field.empty();
      if ((automatic && used_manual) || (!automatic && next_auto_index > 0)) {
        throw RenderError("cannot switch between automatic and manual field numbering");
      }
      used_manual = !automatic;
      const std::size_t index = automatic ? next_auto_index++ : std::stoul(field);
      if (index >= args.positional.size()) throw RenderError("Replacement index " + std::to_string(index) + " out of range");
      value = &args.positional[index];
    } else {
      for (const auto& [name, keyword_value] : args.keyword) {
        if (name == field) value = &keyword_value;
      }
      if (value == nullptr) throw RenderError("KeyError: '" + field + "'");
    }
    out += conversion == 'r' ? repr(*value) : to_str(*value);
  }
  return Value::string(std::move(out));
}

constexpr std::pair<std::string_view, StringMethod> kStringMethods[] = {
    {"strip", str_strip},
    {"lstrip", str_lstrip},
    {"rstrip", str_rstrip},
    {"split", str_split},
    {"rsplit", str_rsplit},
    {"splitlines", str_splitlines},
    {"upper", case_method<unicode::upper>},
    {"lower", case_method<unicode::lower>},
    {"title", case_method<unicode::title>},
    {"capitalize", case_method<unicode::capitalize>},
    {"startswith", str_startswith},
    {"endswith", str_endswith},
    {"removeprefix", str_removeprefix},
    {"removesuffix", str_removesuffix},
    {"replace", str_replace},
    {"find", str_find},
    {"rfind", str_rfind},
    {"index", str_index},
    {"rindex", str_rindex},
    {"count", str_count},
    {"join", str_join},
    {"format", str_format},
};

constexpr std::string_view kUnimplementedStringMethods[] = {
    "casefold",  "center",  "encode",      "expandtabs", "format_map", "isalnum",   "isalpha",
    "isascii",   "isdecimal", "isdigit",   "isidentifier", "islower", "isnumeric", "isprintable",
    "isspace",   "istitle", "isupper",     "ljust",      "maketrans",  "partition", "rjust",
    "rpartition", "swapcase", "translate", "zfill"};

Value dict_items(const Value& self, const CallArgs& args) {
  bind_arguments("dict.items", args, {});
  ValueList items;
  for (const auto& [key, value] : self.as_dict().entries) items.push_back(Value::tuple({key, value}));
  return Value::list(std::move(items));
}

Value dict_keys(const Value& self, const CallArgs& args) {
  bind_arguments("dict.keys", args, {});
  return Value::list(iterate(self));
}

Value dict_values(const Value& self, const CallArgs& args) {
  bind_arguments("dict.values", args, {});
  ValueList values;
  for (const auto& entry : self.as_dict().entries) values.push_back(entry.second);
  return Value::list(std::move(values));
}

Value dict_get(const Value& self, const CallArgs& args) {
  const auto values = bind_arguments("dict.get", args, {{"key"}, {"default", Value::none()}});
  const Value* found = self.as_dict().find(values[0]);
  return found != nullptr ? *found : values[1];
}

Value container_copy(const Value& self, const CallArgs& args) {
  bind_arguments("copy", args, {});
  return self.is_dict() ? Value::dict(self.as_dict()) : Value::list(self.as_list());
}

Value sequence_count(const Value& self, const CallArgs& args) {
  const Value needle = bind_arguments("count", args, {{"value"}})[0];
  return Value::integer(std::count_if(self.as_list().begin(), self.as_list().end(),
                                      [&](const Value& item) { return equals(item, needle); }));
}

Value sequence_index(const Value& self, const CallArgs& args) {
  const Value needle = bind_arguments("index", args, {{"value"}})[0];
  const ValueList& items = self.as_list();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], needle)) return Value::integer(static_cast<std::int64_t>(i));
  }
  throw RenderError(repr(needle) + " is not in " + type_name(self));
}

constexpr std::pair<std::string_view, ContainerMethod> kDictMethods[] = {
    {"items", dict_items}, {"keys", dict_keys}, {"values", dict_values}, {"get", dict_get}, {"copy", container_copy}};
constexpr std::string_view kMutatingDictMethods[] = {"clear", "pop", "popitem", "setdefault", "update"};

constexpr std::pair<std::string_view, ContainerMethod> kListMethods[] = {
    {"count", sequence_count}, {"index", sequence_index}, {"copy", container_copy}};
// The list mutators jinja2's immutable sandbox refuses; it does allow pop and clear, which
// this renderer, whose lists are immutable, does not implement.
constexpr std::string_view kMutatingListMethods[] = {"append", "extend", "insert", "remove", "reverse", "sort"};
constexpr std::string_view kUnimplementedListMethods[] = {"pop", "clear"};

constexpr std::pair<std::string_view, ContainerMethod> kTupleMethods[] = {{"count", sequence_count},
                                                                          {"index", sequence_index}};

template <class Table>
auto lookup(const Table& table, std::string_view name) -> decltype(&std::begin(table)->second) {
  for (const auto& entry : table) {
    if (entry.first == name) return &entry.second;
  }
  return nullptr;
}

template <std::size_t N>
bool contains(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

Value bind_container_method(const Value& receiver, std::string_view name, ContainerMethod method) {
  return Value::callable(type_name(receiver) + "." + std::string(name),
                         [receiver, method](const CallArgs& args) { return method(receiver, args); });
}

}  // namespace

std::optional<Value> find_method(const Value& receiver, std::string_view name) {
  switch (receiver.kind()) {
    case Value::Kind::kString: {
      if (const StringMethod* method = lookup(kStringMethods, name)) {
        const std::string self = receiver.as_string();
        return Value::callable("str." + std::string(name),
                               [self, method = *method](const CallArgs& args) { return method(self, args); });
      }
      if (contains(kUnimplementedStringMethods, name)) {
        throw RenderError("unsupported method 'str." + std::string(name) + "'");
      }
      return std::nullopt;
    }
    case Value::Kind::kDict:
      if (const ContainerMethod* method = lookup(kDictMethods, name)) return bind_container_method(receiver, name, *method);
      if (name == "fromkeys") throw RenderError("unsupported method 'dict.fromkeys'");
      if (contains(kMutatingDictMethods, name)) break;
      return std::nullopt;
    case Value::Kind::kList:
      if (const ContainerMethod* method = lookup(kListMethods, name)) return bind_container_method(receiver, name, *method);
      if (contains(kUnimplementedListMethods, name)) throw RenderError("unsupported method 'list." + std::string(name) + "'");
      if (contains(kMutatingListMethods, name)) break;
      return std::nullopt;
    case Value::Kind::kTuple:
      if (const ContainerMethod* method = lookup(kTupleMethods, name)) return bind_container_method(receiver, name, *method);
      return std::nullopt;
    default: return std::nullopt;
  }
  return Value::undefined("access to attribute '" + std::string(name) + "' of '" + type_name(receiver) +
                          "' object is unsafe.");
}

}  // namespace strata::chat
