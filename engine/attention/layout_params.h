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
// A token count given as exactly one of `tokens_key` (an integer in [1, context_length]) and
// `fraction_key` (of context_length, in (0, 1], rounded down, at least 1); a LayoutError saying
// that `backend` needs exactly one of them otherwise.
int32_t tokens_or_fraction_param(const nlohmann::json& params, const std::string& tokens_key,
                                 const std::string& fraction_key, int64_t context_length, const std::string& backend,
                                 const std::string& where);
bool bool_param(const nlohmann::json& params, const std::string& key, bool fallback, const std::string& where);
std::optional<std::string> optional_string_param(const nlohmann::json& params, const std::string& key,
                                                 const std::string& where);

}  // namespace strata::attention
