// One head's rows of one sequence in a step: row t of a token-major tensor at data + t * stride.
// The cells hand their per-head kernels such views, so heads and GQA sharing need no copies.
#pragma once

#include <cstdint>

namespace strata::attention::linear {

struct Rows {
  const float* data = nullptr;
  int64_t stride = 0;
  const float* operator[](int64_t t) const { return data + t * stride; }
};

struct MutableRows {
  float* data = nullptr;
  int64_t stride = 0;
  float* operator[](int64_t t) const { return data + t * stride; }
};

// A token-major tensor of heads: head h of row t at data + t * row_stride + h * head_stride.
struct TokenHeads {
  const float* data = nullptr;
  int64_t row_stride = 0;
  int64_t head_stride = 0;
  Rows head(int64_t h, int64_t first_row) const { return {data + first_row * row_stride + h * head_stride, row_stride}; }
};

// One head of one sequence's new tokens, as the per-head kernels of every cell take them.
struct HeadSequence {
  int32_t n_tokens = 0;
  int32_t d_k = 0;
  int32_t d_v = 0;
  Rows q, k, v;     // d_k, d_k, d_v values per row
  MutableRows out;  // d_v values per row
};

}  // namespace strata::attention::linear
