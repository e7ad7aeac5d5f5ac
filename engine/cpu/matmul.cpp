#include "engine/cpu/matmul.h"

#include <algorithm>
#include <cstring>

#include "engine/cpu/kquant_dot.h"
#include "engine/gguf/dequantize.h"

namespace strata::cpu {

using gguf::TensorType;

WeightMatrix WeightMatrix::from_tensor(const gguf::TensorInfo& tensor) {
  if (tensor.dims.size() > 2) {
    throw gguf::FormatError("tensor '" + tensor.name + "' is not a matrix (" + std::to_string(tensor.dims.size()) +
                            " dimensions)");
  }
  WeightMatrix w;
  w.cols_ = static_cast<int64_t>(tensor.dims[0]);
  w.rows_ = static_cast<int64_t>(tensor.rows());
  switch (tensor.type) {
    case TensorType::kQ4_0:
    case TensorType::kQ4_1:
    case TensorType::kQ5_0:
    case TensorType::kQ8_0:
    case TensorType::kQ4_K:
    case TensorType::kQ6_K:
    case TensorType::kF16:
    case TensorType::kF32:
      w.type_ = tensor.type;
      w.data_ = tensor.data;
      w.row_bytes_ = tensor.n_bytes / static_cast<size_t>(w.rows_);
      break;
    default:
      if (!gguf::can_dequantize(tensor.type)) {
        throw gguf::FormatError("tensor '" + tensor.name + "' has type " +
                                std::string(gguf::tensor_type_name(tensor.type)) + ", which the CPU backend cannot use");
      }
      w.widened_ = gguf::dequantize(tensor);
      w.type_ = TensorType::kF32;
      w.data_ = reinterpret_cast<const uint8_t*>(w.widened_.data());
      w.row_bytes_ = static_cast<size_t>(w.cols_) * sizeof(float);
  }
  return w;
}

void WeightMatrix::dequantize_row(int64_t r, float* out) const { gguf::dequantize_row(type_, row(r), out, cols_); }

namespace {

// Rows are processed in tiles so a tile of weights stays in cache while every token reads it.
constexpr int64_t kRowTile = 16;

template <typename RowDot>
void tiled_rows(const WeightMatrix& w, int64_t n_tokens, float* y, ThreadPool& pool, RowDot row_dot) {
  int64_t n_tiles = (w.rows() + kRowTile - 1) / kRowTile;
  pool.parallel_for(n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end) {
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      int64_t r0 = tile * kRowTile, r1 = std::min(w.rows(), r0 + kRowTile);
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = r0; r < r1; ++r) y[t * w.rows() + r] = row_dot(r, t);
      }
    }
  });
}

// Quantizes each token's activations to blocks of sizeof(Block::qs) elements, then runs
// dot_rows over tiles of weight rows, up to kMaxDotRows tokens sharing each unpacked weight block.
template <typename Block, typename Quantize, typename DotRows>
void quantized_matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, std::vector<Block>& scratch,
                      ThreadPool& pool, Quantize quantize, DotRows dot_rows) {
  const int64_t cols = w.cols(), blocks = cols / static_cast<int64_t>(sizeof(Block::qs));
  scratch.resize(static_cast<size_t>(n_tokens * blocks));
  Block* xq = scratch.data();
  pool.parallel_for(n_tokens, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) quantize(x + t * cols, xq + t * blocks, cols);
  });
  const int64_t n_tiles = (w.rows() + kRowTile - 1) / kRowTile;
  pool.parallel_for(n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end) {
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t r0 = tile * kRowTile, r1 = std::min(w.rows(), r0 + kRowTile);
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxDotRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxDotRows, n_tokens - t0));
        const Block* x_rows[kMaxDotRows];
        for (int i = 0; i < rows; ++i) x_rows[i] = xq + (t0 + i) * blocks;
        float out[kMaxDotRows];
        for (int64_t r = r0; r < r1; ++r) {
          dot_rows(w.row(r), x_rows, rows, blocks, out);
          for (int i = 0; i < rows; ++i) y[(t0 + i) * w.rows() + r] = out[i];
        }
      }
    }
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch,
            ThreadPool& pool) {
  const int64_t cols = w.cols();
  switch (w.type()) {
    case TensorType::kQ4_0: return quantized_matmul(w, x, n_tokens, y, scratch.q8, pool, quantize_row_q8, dot_q4_0_q8_rows);
    case TensorType::kQ4_1: return quantized_matmul(w, x, n_tokens, y, scratch.q8, pool, quantize_row_q8, dot_q4_1_q8_rows);
    case TensorType::kQ5_0: return quantized_matmul(w, x, n_tokens, y, scratch.q8, pool, quantize_row_q8, dot_q5_0_q8_rows);
    case TensorType::kQ8_0: return quantized_matmul(w, x, n_tokens, y, scratch.q8, pool, quantize_row_q8, dot_q8_0_q8_rows);
    case TensorType::kQ4_K:
      return quantized_matmul(w, x, n_tokens, y, scratch.q8k, pool, quantize_row_q8_k, dot_q4_k_q8_k_rows);
    case TensorType::kQ6_K:
      return quantized_matmul(w, x, n_tokens, y, scratch.q8k, pool, quantize_row_q8_k, dot_q6_k_q8_k_rows);
    case TensorType::kF16:
      return tiled_rows(w, n_tokens, y, pool, [&](int64_t r, int64_t t) {
        return dot_f16_f32(reinterpret_cast<const uint16_t*>(w.row(r)), x + t * cols, cols);
      });
    default:
      return tiled_rows(w, n_tokens, y, pool, [&](int64_t r, int64_t t) {
        return dot_f32(reinterpret_cast<const float*>(w.row(r)), x + t * cols, cols);
      });
  }
}

}  // namespace strata::cpu
