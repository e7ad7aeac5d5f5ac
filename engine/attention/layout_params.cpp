#include "engine/attention/layout_params.h"

#include <algorithm>
#include <cmath>

#include "engine/attention/layout_error.h"

namespace strata::attention {
namespace {

[[noreturn]] void bad(const std::string& where, const std::string& key, const std::string& expected) {
  throw LayoutError(where + ": parameter '" + key + "' must be " + expected);
}

}  // namespace

std::optional<int64_t> optional_int_param(const nlohmann::json& params, const std::string& key, int64_t min,
                                          int64_t max, const std::string& where) {
  const auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  const std::string expected = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!it->is_number_integer()) bad(where, key, expected);
  const auto value = it->get<int64_t>();
  if (value < min || value > max) bad(where, key, expected + ", not " + std::to_string(value));
  return value;
}

std::optional<double> optional_fraction_param(const nlohmann::json& params, const std::string& key, double min,
                                              double max, const std::string& where) {
  const auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  const std::string expected = "a number in (" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!it->is_number()) bad(where, key, expected);
  const auto value = it->get<double>();
  if (!(value > min && value <= max)) bad(where, key, expected);
  return value;
}

CountOrFraction count_or_fraction_param(const nlohmann::json& params, const std::string& count_key,
                                        const std::string& fraction_key, int64_t max_count, const std::string& backend,
                                        const std::string& where) {
  CountOrFraction out{optional_int_param(params, count_key, 1, max_count, where),
                      optional_fraction_param(params, fraction_key, 0.0, 1.0, where)};
  if (out.count.has_value() == out.fraction.has_value()) {
    throw LayoutError(where + ": " + backend + " needs exactly one of " + count_key + " and " + fraction_key);
  }
  return out;
}

int32_t CountOrFraction::of(int64_t total) const {
  if (count) return static_cast<int32_t>(*count);
  return static_cast<int32_t>(std::max<int64_t>(1, std::llround(std::floor(*fraction * total))));
}

bool bool_param(const nlohmann::json& params, const std::string& key, bool fallback, const std::string& where) {
  const auto it = params.find(key);
  if (it == params.end()) return fallback;
  if (!it->is_boolean()) bad(where, key, "true or false");
  return it->get<bool>();
}

std::optional<std::string> optional_string_param(const nlohmann::json& params, const std::string& key,
                                                 const std::string& where) {
  const auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  if (!it->is_string() || it->get<std::string>().empty()) bad(where, key, "a non-empty string");
  return it->get<std::string>();
}

}  // namespace strata::attention
