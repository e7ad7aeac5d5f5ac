#include "server/http/token_ids.h"

#include "server/http/api_error.h"

namespace strata::http {

std::vector<int32_t> token_ids(const nlohmann::ordered_json& array, const std::string& field, int32_t vocab_size) {
  if (!array.is_array()) throw invalid_field(field, "'" + field + "' must be an array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (const auto& id : array) {
    const bool in_vocab = id.is_number_integer() && id.get<int64_t>() >= 0 &&
                          (id.is_number_unsigned() ? id.get<uint64_t>() < static_cast<uint64_t>(vocab_size)
                                                   : id.get<int64_t>() < vocab_size);
    if (!in_vocab) {
      throw invalid_field(field, "'" + field + "' must hold token ids in [0, " + std::to_string(vocab_size) + "), got " +
                                     id.dump());
    }
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

}  // namespace strata::http
