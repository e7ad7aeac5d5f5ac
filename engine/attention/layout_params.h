// Typed reads of a layout rule's backend parameters, each failure a LayoutError naming the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace strata::attention {

// The integer at `key` in [min, max]; nullopt when absent.
std::optional<int64_t> optional_int_param(const nlohmann::json& params, const std::string& key, int64_t min,
                                          int64_t max, const std::string& where);
// The number at `key` in (min, max]; nullopt when absent.
std::optional<double> optional_fraction_param(const nlohmann::json& params, const std::string& key, double min,
                                              double max, const std::string& where);
// Exactly one of an integer at `count_key` in [1, max_count] and a number at `fraction_key` in
// (0, 1]; LayoutError "`backend` needs exactly one of ..." otherwise.
struct CountOrFraction {
  std::optional<int64_t> count;
  std::optional<double> fraction;

  // The count, or the fraction of `total` rounded down (at least 1).
  int32_t of(int64_t total) const;
};
CountOrFraction count_or_fraction_param(const nlohmann::json& params, const std::string& count_key,
                                        const std::string& fraction_key, int64_t max_count, const std::string& backend,
                                        const std::string& where);
bool bool_param(const nlohmann::json& params, const std::string& key, bool fallback, const std::string& where);
std::optional<std::string> optional_string_param(const nlohmann::json& params, const std::string& key,
                                                 const std::string& where);

}  // namespace strata::attention
