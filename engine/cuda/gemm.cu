#include "engine/cuda/cuda_check.h"
#include "engine/cuda/gemm.h"

namespace strata::cuda {

namespace {
constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLAS's recommendation for Hopper
}

Gemm::Gemm() : workspace_(kWorkspaceBytes) {
  check(cublasCreate(&handle_), "cublasCreate");
  check(cublasSetWorkspace(handle_, workspace_.get(), kWorkspaceBytes), "cublasSetWorkspace");
}

Gemm::~Gemm() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

void Gemm::run(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
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
