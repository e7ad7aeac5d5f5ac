#include "server/http/request_fields.h"

#include <cmath>
#include <limits>

#include "server/http/api_error.h"

namespace strata::http {
namespace {

std::string number_text(double v) {
  nlohmann::json j = v;
  return j.dump();
}

[[noreturn]] void wrong_type(const std::string& name, const char* expected, const nlohmann::ordered_json& value) {
  throw invalid_field(name, "'" + name + "' must be " + expected + ", not " + json_type_name(value));
}

}  // namespace

std::string json_type_name(const nlohmann::ordered_json& value) {
  if (value.is_boolean()) return "a boolean";
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return "null";
}

const nlohmann::ordered_json* RequestFields::find(const std::string& name) const {
  auto it = object_.find(name);
  return it == object_.end() || it->is_null() ? nullptr : &*it;
}

std::optional<int64_t> RequestFields::integer(const std::string& name, int64_t min, int64_t max) const {
  const auto* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) wrong_type(name, "an integer", *v);
  const bool too_big = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const int64_t x = too_big ? std::numeric_limits<int64_t>::max() : v->get<int64_t>();
  if (too_big || x < min || x > max) {
    throw invalid_field(name, "'" + name + "' must be in [" + std::to_string(min) + ", " + std::to_string(max) +
                                  "], got " + v->dump());
  }
  return x;
}

std::optional<double> RequestFields::number(const std::string& name, double min, double max) const {
  const auto* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "a number", *v);
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < min || x > max) {
    throw invalid_field(name, "'" + name + "' must be in [" + number_text(min) + ", " + number_text(max) + "], got " +
                                  v->dump());
  }
  return x;
}

std::optional<bool> RequestFields::boolean(const std::string& name) const {
  const auto* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> RequestFields::string(const std::string& name) const {
  const auto* v = find(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(name, "a string", *v);
  return v->get<std::string>();
}

const nlohmann::ordered_json* RequestFields::array(const std::string& name) const {
  const auto* v = find(name);
  if (v && !v->is_array()) wrong_type(name, "an array", *v);
  return v;
}

const nlohmann::ordered_json* RequestFields::object(const std::string& name) const {
  const auto* v = find(name);
  if (v && !v->is_object()) wrong_type(name, "an object", *v);
  return v;
}

}  // namespace strata::http
