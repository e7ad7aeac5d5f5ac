// Host entry points of the CUDA ops: each validates its shape arguments and launches its kernel
// on `stream` (asynchronous). Buffers are device pointers; bf16 and fp16 values are passed as
// their 16-bit patterns so this header needs no CUDA half types.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace strata::cuda {

// residual[t] += delta[t] (delta may be null), out[t] = bf16(rmsnorm(residual[t]) * weight).
void rms_norm_residual(float* residual, const float* delta, const float* weight, uint16_t* out_bf16, int tokens, int dim,
                       float eps, cudaStream_t stream);

// hidden[t] = table[tokens[t]] (bf16 table, float hidden).
void embed(const uint16_t* table_bf16, const int32_t* tokens, float* hidden, int n_tokens, int dim, cudaStream_t stream);

// out = bf16(silu(gate) * up).
void swiglu(const float* gate, const float* up, uint16_t* out_bf16, int64_t n, cudaStream_t stream);

struct RopeKvWriteShape {
  int tokens, n_heads, n_kv_heads, head_dim, rope_dim;
  float rope_base;
};
// RoPE on q (in place) and k, and the write of k and v as fp16 into cache row slots[t] of the
// layer's paged cache ([blocks x block_size] rows of n_kv_heads x head_dim).
void rope_kv_write(float* q, const float* k, const float* v, const int32_t* positions, const int32_t* slots,
                   uint16_t* k_cache_fp16, uint16_t* v_cache_fp16, const RopeKvWriteShape& shape, cudaStream_t stream);

struct PagedAttentionShape {
  int tokens, n_heads, n_kv_heads, head_dim, block_size, max_blocks;
  float scale;
};
// Causal attention of each query token over its sequence's first token_keys[t] cached keys.
// head_dim 64, 128 or 256; lse may be null.
void paged_attention(const float* q, const uint16_t* k_cache_fp16, const uint16_t* v_cache_fp16,
                     const int32_t* block_tables, const int32_t* token_sequence, const int32_t* token_keys,
                     uint16_t* out_bf16, float* lse, const PagedAttentionShape& shape, cudaStream_t stream);

}  // namespace strata::cuda
