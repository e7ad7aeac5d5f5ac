#include "engine/model/gguf_weights.h"

#include "engine/gguf/dequantize.h"

namespace strata::model {

std::vector<float> load_vector(const gguf::GgufFile& f, const std::string& name, int64_t n) {
  const auto& t = f.tensor(name);
  if (t.n_elements != static_cast<uint64_t>(n)) {
    throw gguf::FormatError("'" + f.path() + "': tensor '" + name + "' has " + std::to_string(t.n_elements) +
                            " elements, expected " + std::to_string(n));
  }
  return gguf::dequantize(t);
}

cpu::WeightMatrix load_matrix(const gguf::GgufFile& f, const std::string& name, int64_t rows, int64_t cols) {
  const auto& t = f.tensor(name);
  if (t.dims.size() != 2 || t.dims[0] != static_cast<uint64_t>(cols) || t.dims[1] != static_cast<uint64_t>(rows)) {
    throw gguf::FormatError("'" + f.path() + "': tensor '" + name + "' has the wrong shape (expected " +
                            std::to_string(cols) + " x " + std::to_string(rows) + ")");
  }
  return cpu::WeightMatrix::from_tensor(t);
}

}  // namespace strata::model
