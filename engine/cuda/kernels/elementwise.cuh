// Embedding lookup and SwiGLU.
#pragma once

#include <cuda_bf16.h>

namespace strata::cuda::kernels {

// hidden[t] = float(table[tokens[t]]): one block per token.
__global__ void embed(const __nv_bfloat16* __restrict__ table, const int* __restrict__ tokens, float* __restrict__ hidden,
                      int dim) {
  const __nv_bfloat16* row = table + static_cast<size_t>(tokens[blockIdx.x]) * dim;
  float* out = hidden + static_cast<size_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) out[i] = __bfloat162float(row[i]);
}

// out = bf16(silu(gate) * up) over n elements.
__global__ void swiglu(const float* __restrict__ gate, const float* __restrict__ up, __nv_bfloat16* __restrict__ out,
                       size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[i] = __float2bfloat16(g / (1.0f + __expf(-g)) * up[i]);
  }
}

}  // namespace strata::cuda::kernels
