// Token ids sent by clients (a completion prompt, /detokenize), checked against the vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::http {

// `array` must hold integers in [0, vocab_size); else ApiError 400 naming `field`.
std::vector<int32_t> token_ids(const nlohmann::ordered_json& array, const std::string& field, int32_t vocab_size);

}  // namespace strata::http
