// Activations quantized per block of 256 to int8 with a float scale (llama.cpp's Q8_K), the
// input format of the K-quant dot products (engine/cpu/kquant_dot.h).
#pragma once

#include <cstdint>

namespace strata::cpu {

constexpr int kQ8KBlock = 256;

struct BlockQ8K {
  float d;                         // x ~= d * qs; negative when the block's largest |x| is positive
  int8_t qs[kQ8KBlock];
  int16_t bsums[kQ8KBlock / 16];   // sum of qs over each group of 16
};

// llama.cpp's definition: the element of largest magnitude (the first, among equals) maps to
// -127, so the scale is 1 / (-127 / that element); quants round half to even. n must be a
// multiple of 256.
void quantize_row_q8_k(const float* x, BlockQ8K* y, int64_t n);

}  // namespace strata::cpu
