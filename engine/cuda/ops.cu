// The thin dispatch from the host API to the kernel templates.
#include <stdexcept>
#include <string>

#include <cmath>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/paged_attention.cuh"
#include "engine/cuda/kernels/rms_norm.cuh"
#include "engine/cuda/kernels/rope_kv_write.cuh"
#include "engine/cuda/ops.h"

namespace strata::cuda {
namespace {

constexpr int kRowThreads = 256;

template <typename T>
T* as(uint16_t* p) {
  return reinterpret_cast<T*>(p);
}
template <typename T>
const T* as(const uint16_t* p) {
  return reinterpret_cast<const T*>(p);
}

void launched(const char* what) { check(cudaGetLastError(), what); }

}  // namespace

void rms_norm_residual(float* residual, const float* delta, const float* weight, uint16_t* out_bf16, int tokens, int dim,
                       float eps, cudaStream_t stream) {
  if (tokens <= 0) return;
  kernels::rms_norm_residual<<<tokens, kRowThreads, 0, stream>>>(residual, delta, weight, as<__nv_bfloat16>(out_bf16), dim,
                                                                 eps);
  launched("rms_norm_residual");
}

void embed(const uint16_t* table_bf16, const int32_t* tokens, float* hidden, int n_tokens, int dim, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  kernels::embed<<<n_tokens, kRowThreads, 0, stream>>>(as<__nv_bfloat16>(table_bf16), tokens, hidden, dim);
  launched("embed");
}

void swiglu(const float* gate, const float* up, uint16_t* out_bf16, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>((n + kRowThreads - 1) / kRowThreads, 65535));
  kernels::swiglu<<<blocks, kRowThreads, 0, stream>>>(gate, up, as<__nv_bfloat16>(out_bf16), static_cast<size_t>(n));
  launched("swiglu");
}

void rope_kv_write(float* q, const float* k, const float* v, const int32_t* positions, const int32_t* slots,
                   uint16_t* k_cache_fp16, uint16_t* v_cache_fp16, const RopeKvWriteShape& s, cudaStream_t stream) {
  if (s.tokens <= 0) return;
  if (s.head_dim % 2 != 0 || s.rope_dim % 2 != 0 || s.rope_dim > s.head_dim) {
    throw std::invalid_argument("rope_kv_write: head_dim and rope_dim must be even, rope_dim <= head_dim");
  }
  const float theta_scale_log2 = -2.0f / static_cast<float>(s.rope_dim) * std::log2(s.rope_base);
  kernels::rope_kv_write<<<s.tokens, 64, 0, stream>>>(q, k, v, positions, slots, as<__half>(k_cache_fp16),
                                                      as<__half>(v_cache_fp16), s.n_heads, s.n_kv_heads, s.head_dim,
                                                      s.rope_dim, theta_scale_log2);
  launched("rope_kv_write");
}

void paged_attention(const float* q, const uint16_t* k_cache_fp16, const uint16_t* v_cache_fp16,
                     const int32_t* block_tables, const int32_t* token_sequence, const int32_t* token_keys,
                     uint16_t* out_bf16, float* lse, const PagedAttentionShape& s, cudaStream_t stream) {
  if (s.tokens <= 0) return;
  if (s.n_heads % s.n_kv_heads != 0) throw std::invalid_argument("paged_attention: n_heads % n_kv_heads != 0");
  kernels::PagedAttentionArgs args{q,           as<__half>(k_cache_fp16), as<__half>(v_cache_fp16),
                                   block_tables, token_sequence,          token_keys,
                                   as<__nv_bfloat16>(out_bf16), lse,      s.n_heads,
                                   s.n_kv_heads, s.block_size,            s.max_blocks,
                                   s.scale};
  const dim3 grid(static_cast<unsigned>(s.n_heads), static_cast<unsigned>(s.tokens));
  const int threads = 32 * kernels::kAttentionWarps;
  switch (s.head_dim) {
    case 64: kernels::paged_attention<64><<<grid, threads, 0, stream>>>(args); break;
    case 128: kernels::paged_attention<128><<<grid, threads, 0, stream>>>(args); break;
    case 256: kernels::paged_attention<256><<<grid, threads, 0, stream>>>(args); break;
    default: throw std::invalid_argument("paged_attention: unsupported head_dim " + std::to_string(s.head_dim));
  }
  launched("paged_attention");
}

}  // namespace strata::cuda
