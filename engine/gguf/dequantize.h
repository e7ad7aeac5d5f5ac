// Dequantization of GGUF tensor data to float32, one row (or any whole number of blocks) at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/gguf/gguf_file.h"

namespace strata::gguf {

// True for the types dequantize_row accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q4_K, Q5_K, Q6_K.
bool can_dequantize(TensorType type);

// Dequantizes `n` elements (a multiple of the type's block size) from `src` into `dst`.
// Throws FormatError for a type can_dequantize rejects.
void dequantize_row(TensorType type, const uint8_t* src, float* dst, int64_t n);

// The whole tensor as float32, row-major with dims[0] fastest.
std::vector<float> dequantize(const TensorInfo& tensor);

}  // namespace strata::gguf
