// Typed reads of the fields of a JSON request object. A field of the wrong type or out of range
// is an ApiError 400 naming it; a missing field and an explicit null both read as absent
// (clients send null to mean "the default").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace strata::http {

class RequestFields {
 public:
  explicit RequestFields(const nlohmann::ordered_json& object) : object_(object) {}

  // The value, or nullptr when absent or null.
  const nlohmann::ordered_json* find(const std::string& name) const;
  std::optional<int64_t> integer(const std::string& name, int64_t min, int64_t max) const;
  // Finite, in [min, max]; integers are accepted too.
  std::optional<double> number(const std::string& name, double min, double max) const;
  std::optional<bool> boolean(const std::string& name) const;
  std::optional<std::string> string(const std::string& name) const;
  // An array or an object; the pointer stays valid while the request object lives.
  const nlohmann::ordered_json* array(const std::string& name) const;
  const nlohmann::ordered_json* object(const std::string& name) const;

 private:
  const nlohmann::ordered_json& object_;
};

// A JSON value's type in words, for error messages ("a string", "an array", ...).
std::string json_type_name(const nlohmann::ordered_json& value);

}  // namespace strata::http
