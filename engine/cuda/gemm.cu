#include "engine/cuda/cuda_check.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/kernels/single_token_linear.cuh"
#include "engine/cuda/ops.h"

namespace strata::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLAS's recommendation for Hopper

// The one-token GEMV applies: in % 8 == 0 (16-byte rows).
bool single_token(int n_tokens, int in) { return n_tokens == 1 && in % 8 == 0; }

void launch_single_token(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int in, int out, bool accumulate,
                         cudaStream_t stream) {
  const int blocks = (out + kernels::kLinearWarps - 1) / kernels::kLinearWarps;
  kernels::launch_dependent(kernels::single_token_linear, blocks, 32 * kernels::kLinearWarps, 0, stream,
                            reinterpret_cast<const __nv_bfloat16*>(w_bf16), reinterpret_cast<const __nv_bfloat16*>(x_bf16), y, in,
                            out, accumulate);
  check(cudaGetLastError(), "single_token_linear");
}

}  // namespace

Gemm::Gemm() : workspace_(kWorkspaceBytes) {
  check(cublasCreate(&handle_), "cublasCreate");
  check(cublasSetWorkspace(handle_, workspace_.get(), kWorkspaceBytes), "cublasSetWorkspace");
}

Gemm::~Gemm() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

void Gemm::linear(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
                  cudaStream_t stream) {
  if (!single_token(n_tokens, in)) return cublas(x_bf16, w_bf16, y, n_tokens, in, out, 0.0f, stream);
  launch_single_token(x_bf16, w_bf16, y, in, out, false, stream);
}

void Gemm::linear_add(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
                      cudaStream_t stream) {
  if (!single_token(n_tokens, in)) return cublas(x_bf16, w_bf16, y, n_tokens, in, out, 1.0f, stream);
  launch_single_token(x_bf16, w_bf16, y, in, out, true, stream);
}

void Gemm::norm_linear(const float* x, const float* norm_weight, float eps, uint16_t* h, const uint16_t* w_bf16, float* y,
                       int n_tokens, int in, int out, cudaStream_t stream) {
  rms_norm(x, norm_weight, h, n_tokens, in, eps, stream);
  linear(h, w_bf16, y, n_tokens, in, out, stream);
}

void Gemm::cublas(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
                  cudaStream_t stream) {
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
