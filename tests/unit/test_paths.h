// Paths the unit tests read: fixtures in the source tree and the default model of `make setup`.
#pragma once

#include <cstdlib>
#include <string>

namespace strata::test {

inline std::string source_path(const std::string& relative) { return std::string(STRATA_SOURCE_DIR) + "/" + relative; }

// STRATA_TEST_MODEL overrides the default model file.
inline std::string default_model_path() {
  if (const char* env = std::getenv("STRATA_TEST_MODEL")) return env;
  return source_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
}

}  // namespace strata::test
