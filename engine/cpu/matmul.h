// Linear layers on the CPU: y = W x for a batch of activation rows, W in its GGUF storage type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/cpu/q8_k.h"
#include "engine/cpu/quant_dot.h"
#include "engine/cpu/thread_pool.h"
#include "engine/gguf/gguf_file.h"

namespace strata::cpu {

// A [rows x cols] weight matrix (cols contiguous). Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K, F16 and F32
// are used in place from the mapped file; any other dequantizable type is widened to F32 at load.
// matmul() quantizes the activations of the quantized types: Q8 blocks of 32 for Q4_0..Q8_0,
// Q8_K blocks of 256 for Q4_K and Q6_K, as llama.cpp does.
class WeightMatrix {
 public:
  WeightMatrix() = default;
  // Move only: a widened matrix points into its own buffer, which a copy would not own.
  WeightMatrix(WeightMatrix&&) = default;
  WeightMatrix& operator=(WeightMatrix&&) = default;
  WeightMatrix(const WeightMatrix&) = delete;
  WeightMatrix& operator=(const WeightMatrix&) = delete;
  static WeightMatrix from_tensor(const gguf::TensorInfo& tensor);

  gguf::TensorType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const uint8_t* row(int64_t r) const { return data_ + r * row_bytes_; }
  // Row r as float32 (for embedding lookups).
  void dequantize_row(int64_t r, float* out) const;

 private:
  gguf::TensorType type_ = gguf::TensorType::kF32;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  size_t row_bytes_ = 0;
  const uint8_t* data_ = nullptr;
  std::vector<float> widened_;  // owns the data when the file type had to be widened
};

// Scratch for activation quantization, reused across calls to avoid allocation per layer.
struct MatmulScratch {
  std::vector<BlockQ8> q8;
  std::vector<BlockQ8K> q8k;
};

// x: [n_tokens x W.cols()], y: [n_tokens x W.rows()], both row-major float32.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch,
            ThreadPool& pool);

}  // namespace strata::cpu
