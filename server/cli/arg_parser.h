// A small command-line parser: `--name value` options and `--flag` switches, each declared
// with a help line, values validated strictly (a bad value is a UsageError naming the flag).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ArgParser {
 public:
  // Every command gets --help, which parse() answers by printing the usage.
  explicit ArgParser(std::string command) : command_(std::move(command)) {}

  // Declare before parse(). `value_name` empty = a switch without a value.
  void option(const std::string& name, const std::string& value_name, const std::string& help,
              bool required = false);
  void flag(const std::string& name, const std::string& help) { option(name, "", help); }

  // Throws UsageError for unknown options, missing values, repeated or missing required ones.
  // When a `--config FILE` option is declared and given, FILE is a JSON object of further
  // options by name without the dashes ({"port": 8080, "no-prefix-cache": true}); the command
  // line wins over the file. Returns false when --help was asked for: the usage is printed on
  // stdout and the command has nothing else to do.
  [[nodiscard]] bool parse(const std::vector<std::string>& args);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string get_string(const std::string& name, const std::string& fallback = "") const;
  int64_t get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
  double get_double(const std::string& name, double fallback, double min, double max) const;
  std::optional<uint64_t> get_optional_uint(const std::string& name) const;

  std::string usage() const;

 private:
  void merge_config_file(const std::string& path);

  struct Spec {
    std::string value_name;
    std::string help;
    bool required;
  };
  std::string command_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::string> values_;
};

}  // namespace strata::cli
