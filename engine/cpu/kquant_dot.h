// Dot products between K-quant weight rows (Q4_K, Q6_K: 256-element blocks in their GGUF
// layouts) and Q8_K activations, with the float arithmetic of llama.cpp's x86 CPU backend, so
// that our logits track the reference as closely as for the 32-element types:
//  - Q4_K as its repacked AVX2 kernels compute it (what llama.cpp runs for every Q4_K matrix
//    whose row count is a multiple of 8): per block the exact integer sums of scale * q * x and
//    of min * block sums, then one float lane each, sum += isum * (d * dx) and
//    mins += imin * (dmin * dx) by fused multiply-adds, and sum - mins at the end;
//  - Q6_K as its ggml_vec_dot_q6_K_q8_K (AVX2): per block 8 exact integer lane sums (lane k
//    holds elements 4k..4k+3 of every 32), 8 float lanes acc_k += (dx * d) * lane_k by fused
//    multiply-adds, folded by halves at the end.
// The integer sums are exact, so the AVX2 and scalar paths give the same bits.
#pragma once

#include <cstdint>

#include "engine/cpu/q8_k.h"

namespace strata::cpu {

// One weight row of n_blocks blocks against n_rows (1..kMaxDotRows) activation rows, unpacking
// each weight block once: out[i] is the same for any n_rows.
void dot_q4_k_q8_k_rows(const uint8_t* w, const BlockQ8K* const* x, int n_rows, int64_t n_blocks, float* out);
void dot_q6_k_q8_k_rows(const uint8_t* w, const BlockQ8K* const* x, int n_rows, int64_t n_blocks, float* out);

// The portable path, compiled in every build so that tests can hold the SIMD path to its bits.
namespace scalar {
float dot_q4_k_q8_k(const uint8_t* w, const BlockQ8K* x, int64_t n_blocks);
float dot_q6_k_q8_k(const uint8_t* w, const BlockQ8K* x, int64_t n_blocks);
}  // namespace scalar

}  // namespace strata::cpu
