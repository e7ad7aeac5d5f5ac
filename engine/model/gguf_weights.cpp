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

std::vector<cpu::WeightMatrix> load_matrices(const gguf::GgufFile& f, const std::string& name, int64_t n, int64_t rows,
                                             int64_t cols) {
  const auto& t = f.tensor(name);
  const std::vector<uint64_t> dims = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows), static_cast<uint64_t>(n)};
  if (t.dims != dims) {
    throw gguf::FormatError("'" + f.path() + "': tensor '" + name + "' has the wrong shape (expected " + std::to_string(n) +
                            " matrices of " + std::to_string(cols) + " x " + std::to_string(rows) + ")");
  }
  std::vector<cpu::WeightMatrix> matrices;
  for (int64_t i = 0; i < n; ++i) {
    gguf::TensorInfo slice = t;  // rows are whole quantization blocks, so each matrix is a byte range
    slice.name = name + "[" + std::to_string(i) + "]";
    slice.dims = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)};
    slice.n_elements = t.n_elements / static_cast<uint64_t>(n);
    slice.n_bytes = t.n_bytes / static_cast<uint64_t>(n);
    slice.data = t.data + static_cast<size_t>(i) * slice.n_bytes;
    matrices.push_back(cpu::WeightMatrix::from_tensor(slice));
  }
  return matrices;
}

}  // namespace strata::model
