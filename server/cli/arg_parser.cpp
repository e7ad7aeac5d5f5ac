#include "server/cli/arg_parser.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

namespace strata::cli {

void ArgParser::option(const std::string& name, const std::string& value_name, const std::string& help, bool required) {
  order_.push_back(name);
  specs_[name] = Spec{value_name, help, required};
}

bool ArgParser::parse(const std::vector<std::string>& args) {
  if (!specs_.count("--help")) flag("--help", "show this help");
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto spec = specs_.find(arg);
    if (spec == specs_.end()) throw UsageError("unknown option '" + arg + "' for '" + command_ + "'");
    if (values_.count(arg)) throw UsageError("option " + arg + " given twice");
    if (spec->second.value_name.empty()) {
      values_[arg] = "";
      continue;
    }
    if (i + 1 >= args.size()) throw UsageError("option " + arg + " needs a value (" + spec->second.value_name + ")");
    values_[arg] = args[++i];
  }
  if (values_.count("--help")) {  // help needs none of the required options
    std::fputs(usage().c_str(), stdout);
    return false;
  }
  if (specs_.count("--config") && values_.count("--config")) merge_config_file(values_["--config"]);
  for (const auto& [name, spec] : specs_) {
    if (spec.required && !values_.count(name)) throw UsageError("missing required option " + name);
  }
  return true;
}

void ArgParser::merge_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the config file '" + path + "'");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError("the config file '" + path + "' is not valid JSON: " + e.what());
  }
  if (!config.is_object()) throw UsageError("the config file '" + path + "' must hold a JSON object");
  for (const auto& [key, value] : config.items()) {
    const std::string name = "--" + key;
    auto spec = specs_.find(name);
    if (spec == specs_.end() || name == "--config" || name == "--help") {
      throw UsageError("unknown setting '" + key + "' in the config file '" + path + "'");
    }
    if (values_.count(name)) continue;  // the command line wins
    if (spec->second.value_name.empty()) {
      if (!value.is_boolean()) throw UsageError("setting '" + key + "' in '" + path + "' must be true or false");
      if (value.get<bool>()) values_[name] = "";
    } else if (value.is_string()) {
      values_[name] = value.get<std::string>();
    } else if (value.is_number()) {
      values_[name] = value.dump();
    } else {
      throw UsageError("setting '" + key + "' in '" + path + "' must be a string or a number");
    }
  }
}

std::string ArgParser::get_string(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t ArgParser::get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE || v < min || v > max) {
    throw UsageError("invalid value '" + s + "' for " + name + ": expected an integer in [" + std::to_string(min) +
                     ", " + std::to_string(max) + "]");
  }
  return v;
}

double ArgParser::get_double(const std::string& name, double fallback, double min, double max) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v) || v < min || v > max) {
    throw UsageError("invalid value '" + s + "' for " + name + ": expected a number in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "]");
  }
  return v;
}

std::optional<uint64_t> ArgParser::get_optional_uint(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || s[0] == '-' || *end != '\0' || errno == ERANGE) {
    throw UsageError("invalid value '" + s + "' for " + name + ": expected a non-negative integer");
  }
  return v;
}

std::string ArgParser::usage() const {
  std::string out = "usage: strata " + command_ + " [options]\n";
  for (const auto& name : order_) {
    const Spec& spec = specs_.at(name);
    std::string left = "  " + name + (spec.value_name.empty() ? "" : " " + spec.value_name);
    if (left.size() < 28) left.resize(28, ' ');
    out += left + " " + spec.help + (spec.required ? " (required)" : "") + "\n";
  }
  return out;
}

}  // namespace strata::cli
