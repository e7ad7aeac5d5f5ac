// Embedding lookup, the gated activations of the feed-forward block, and row gathers.
#pragma once

#include <cuda_bf16.h>

#include "engine/cuda/kernels/activations.cuh"
#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

// hidden[t] = float(table[tokens[t]]) * scale: one block per token.
__global__ void embed(const __nv_bfloat16* __restrict__ table, const int* __restrict__ tokens, float* __restrict__ hidden,
                      int dim, float scale) {
  wait_for_inputs();
  const __nv_bfloat16* row = table + static_cast<size_t>(tokens[blockIdx.x]) * dim;
  float* out = hidden + static_cast<size_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) out[i] = __bfloat162float(row[i]) * scale;
}

// out[t][j] = bf16(act(gate_up[t][j]) * gate_up[t][n_ff + j]) over tokens x n_ff: the fused
// gate/up projection puts each token's gate row before its up row.
template <class Activation>
__global__ void gated_activation(const float* __restrict__ gate_up, __nv_bfloat16* __restrict__ out, size_t n, int n_ff) {
  wait_for_inputs();
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t t = i / n_ff, j = i % n_ff;
    out[i] = __float2bfloat16(Activation::apply(gate_up[t * 2 * n_ff + j]) * gate_up[t * 2 * n_ff + n_ff + j]);
  }
}

// dst[i] = src[rows[i]] for rows of dim floats: one block per gathered row.
__global__ void gather_rows(const float* __restrict__ src, const int* __restrict__ rows, float* __restrict__ dst, int dim) {
  wait_for_inputs();
  const float* from = src + static_cast<size_t>(rows[blockIdx.x]) * dim;
  float* to = dst + static_cast<size_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) to[i] = from[i];
}

}  // namespace strata::cuda::kernels
