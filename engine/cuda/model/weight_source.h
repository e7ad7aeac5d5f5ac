// Where the GPU model's weights come from: a GGUF file (dequantized on the host, uploaded as
// bf16) or random values of the right shapes made on the device (synthetic models).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/gguf/gguf_file.h"

namespace strata::cuda {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // Writes tensor `name` ([rows x cols] row-major bf16) to device memory at dst. Throws
  // gguf::FormatError when the file's tensor has another shape.
  virtual void matrix(const std::string& name, int64_t rows, int64_t cols, uint16_t* dst) = 0;
  // Writes the norm weight `name` (n floats) to device memory at dst.
  virtual void vector(const std::string& name, int64_t n, float* dst) = 0;
};

// `file` must outlive the source.
std::unique_ptr<WeightSource> gguf_weight_source(const gguf::GgufFile& file);
// Matrices uniform in +-sqrt(3 / cols) (unit-variance outputs), norms 1; fixed by `seed`.
std::unique_ptr<WeightSource> random_weight_source(uint64_t seed);

}  // namespace strata::cuda
