// Dot products between quantized weight rows and 8-bit quantized activations.
//
// Activations are quantized per block of 32 to int8 with one scale, as llama.cpp's CPU backend
// does (its Q8_0/Q8_1 activation blocks, scale rounded to fp16), so our logits track the
// reference closely. Each kernel has an AVX2 path and a portable scalar path with the same
// rounding of inputs; only the float summation order differs.
#pragma once

#include <cstdint>

namespace strata::cpu {

constexpr int kQ8Block = 32;

struct BlockQ8 {
  float d;       // scale (an fp16 value widened to float)
  float s;       // d * sum(qs), rounded to fp16 (used by weight types with an offset); like
                 // llama.cpp's, it overflows to inf when |sum(x)| of a block exceeds 65504
  int8_t qs[kQ8Block];
};

// n must be a multiple of 32.
void quantize_row_q8(const float* x, BlockQ8* y, int64_t n);

// Weight rows in their GGUF block layouts; n_blocks blocks of 32 elements.
float dot_q4_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks);
float dot_q4_1_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks);
float dot_q5_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks);
float dot_q8_0_q8(const uint8_t* w, const BlockQ8* x, int64_t n_blocks);

// One weight row against n_rows (1..kMaxDotRows) activation rows at once, unpacking each weight
// block once for all of them: out[i] equals the single-row dot of x[i], bit for bit.
constexpr int kMaxDotRows = 4;
// Calls kernel.template operator()<N>() with N = n_rows (1..kMaxDotRows) as a constant.
template <typename Kernel>
void with_row_count(int n_rows, Kernel&& kernel) {
  switch (n_rows) {
    case 1: return kernel.template operator()<1>();
    case 2: return kernel.template operator()<2>();
    case 3: return kernel.template operator()<3>();
    default: return kernel.template operator()<kMaxDotRows>();
  }
}
void dot_q4_0_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out);
void dot_q4_1_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out);
void dot_q5_0_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out);
void dot_q8_0_q8_rows(const uint8_t* w, const BlockQ8* const* x, int n_rows, int64_t n_blocks, float* out);

float dot_f32(const float* a, const float* b, int64_t n);
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n);

}  // namespace strata::cpu
