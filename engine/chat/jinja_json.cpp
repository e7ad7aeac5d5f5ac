#include "engine/chat/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/chat/jinja_error.h"
#include "engine/chat/jinja_unicode.h"

namespace strata::chat {
namespace {

template <class Json>
Value convert(const Json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(json.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = json.template get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) throw ChatTemplateError("integer in context exceeds 64 bits");
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::floating(json.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(convert(item));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      dict.entries.reserve(json.size());
      for (auto it = json.begin(); it != json.end(); ++it) {
        dict.entries.emplace_back(Value::string(it.key()), convert(it.value()));
      }
      return Value::dict(std::move(dict));
    }
    default: throw ChatTemplateError("unsupported JSON value in context (binary or discarded)");
  }
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : unicode::decode(s)) {
    char escape[16];
    switch (c) {
      case U'"': out += "\\\""; break;
      case U'\\': out += "\\\\"; break;
      case U'\n': out += "\\n"; break;
      case U'\r': out += "\\r"; break;
      case U'\t': out += "\\t"; break;
      case U'\b': out += "\\b"; break;
      case U'\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (ensure_ascii && c >= 0x80 && c < 0x10000)) {
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
          out += escape;
        } else if (ensure_ascii && c >= 0x10000) {
          const char32_t offset = c - 0x10000;
          std::snprintf(escape, sizeof escape, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (offset >> 10)),
                        static_cast<unsigned>(0xDC00 + (offset & 0x3FF)));
          out += escape;
        } else {
          unicode::append(out, c);
        }
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return format_float(d);
}

// json.dumps turns non-string keys into strings the way it writes them as values.
std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString: return key.as_string();
    case Value::Kind::kInt: return std::to_string(key.as_int());
    case Value::Kind::kFloat: return json_float(key.as_double());
    case Value::Kind::kBool: return key.as_bool() ? "true" : "false";
    case Value::Kind::kNone: return "null";
    default: throw RenderError("keys must be str, int, float, bool or None, not " + type_name(key));
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options)
      : options_(options),
        item_separator_(options.item_separator.value_or(options.indent ? "," : ", ")) {}

  void write(const Value& value, std::string& out, int depth) const {
    switch (value.kind()) {
      case Value::Kind::kNone: out += "null"; return;
      case Value::Kind::kBool: out += value.as_bool() ? "true" : "false"; return;
      case Value::Kind::kInt: out += std::to_string(value.as_int()); return;
      case Value::Kind::kFloat: out += json_float(value.as_double()); return;
      case Value::Kind::kString: append_json_string(out, value.as_string(), options_.ensure_ascii); return;
      case Value::Kind::kList:
      case Value::Kind::kTuple: write_list(value.as_list(), out, depth); return;
      case Value::Kind::kDict: write_dict(value.as_dict(), out, depth); return;
      default: throw RenderError("Object of type " + type_name(value) + " is not JSON serializable");
    }
  }

 private:
  // Writes what comes before the item at `index` of a container at `depth`.
  void open_item(std::string& out, std::size_t index, int depth) const {
    if (index > 0) out += item_separator_;
    newline(out, depth + 1);
  }

  void newline(std::string& out, int depth) const {
    if (!options_.indent) return;
    out += '\n';
    for (int i = 0; i < depth; ++i) out += *options_.indent;
  }

  void write_list(const ValueList& items, std::string& out, int depth) const {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
      open_item(out, i, depth);
      write(items[i], out, depth + 1);
    }
    newline(out, depth);
    out += ']';
  }

  void write_dict(const Dict& dict, std::string& out, int depth) const {
    if (dict.entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> entries;
    for (const auto& entry : dict.entries) entries.push_back(&entry);
    if (options_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto* a, const auto* b) { return compare(a->first, b->first) < 0; });
    }
    out += '{';
    for (std::size_t i = 0; i < entries.size(); ++i) {
      open_item(out, i, depth);
      append_json_string(out, json_key(entries[i]->first), options_.ensure_ascii);
      out += options_.key_separator;
      write(entries[i]->second, out, depth + 1);
    }
    newline(out, depth);
    out += '}';
  }

  const JsonDumpOptions& options_;
  std::string item_separator_;
};

}  // namespace

Value value_from_json(const nlohmann::json& json) { return convert(json); }
Value value_from_json(const nlohmann::ordered_json& json) { return convert(json); }

std::string dump_json(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  JsonWriter(options).write(value, out, 0);
  return out;
}

}  // namespace strata::chat
