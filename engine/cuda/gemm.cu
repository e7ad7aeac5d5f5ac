#include "engine/cuda/cuda_check.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/kernels/small_batch_linear.cuh"

namespace strata::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLAS's recommendation for Hopper

template <int kTokens>
void launch_small(const uint16_t* x, const uint16_t* w, float* y, int in, int out, bool accumulate, cudaStream_t stream) {
  const int blocks = (out + kernels::kLinearWarps - 1) / kernels::kLinearWarps;
  kernels::small_batch_linear<kTokens><<<blocks, 32 * kernels::kLinearWarps, 0, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(w), reinterpret_cast<const __nv_bfloat16*>(x), y, in, out, accumulate);
}

// The small-batch GEMV for 1..8 tokens; false where it does not apply.
bool small_batch(const uint16_t* x, const uint16_t* w, float* y, int n, int in, int out, bool accumulate,
                 cudaStream_t stream) {
  if (n < 1 || n > kernels::kMaxSmallBatch || in % 8 != 0) return false;
  switch (n) {
    case 1: launch_small<1>(x, w, y, in, out, accumulate, stream); break;
    case 2: launch_small<2>(x, w, y, in, out, accumulate, stream); break;
    case 3: launch_small<3>(x, w, y, in, out, accumulate, stream); break;
    case 4: launch_small<4>(x, w, y, in, out, accumulate, stream); break;
    case 5: launch_small<5>(x, w, y, in, out, accumulate, stream); break;
    case 6: launch_small<6>(x, w, y, in, out, accumulate, stream); break;
    case 7: launch_small<7>(x, w, y, in, out, accumulate, stream); break;
    default: launch_small<8>(x, w, y, in, out, accumulate, stream); break;
  }
  check(cudaGetLastError(), "small_batch_linear");
  return true;
}

}  // namespace

Gemm::Gemm() : workspace_(kWorkspaceBytes) {
  check(cublasCreate(&handle_), "cublasCreate");
  check(cublasSetWorkspace(handle_, workspace_.get(), kWorkspaceBytes), "cublasSetWorkspace");
}

Gemm::~Gemm() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

void Gemm::run(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
               cudaStream_t stream) {
  if (small_batch(x_bf16, w_bf16, y, n_tokens, in, out, beta != 0.0f, stream)) return;
  check(cublasSetStream(handle_, stream), "cublasSetStream");
  check(cublasSetWorkspace(handle_, workspace_.get(), kWorkspaceBytes), "cublasSetWorkspace");
  const float alpha = 1.0f;
  // Column-major view: y^T (out x n) = W (out x in) * x^T (in x n); the row-major W buffer is
  // W^T in column-major terms, hence OP_T on it.
  check(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, out, n_tokens, in, &alpha, w_bf16, CUDA_R_16BF, in, x_bf16,
                     CUDA_R_16BF, in, &beta, y, CUDA_R_32F, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}

}  // namespace strata::cuda
