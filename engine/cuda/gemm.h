// Linear layers on the GPU through cuBLAS: y[n x out] = x[n x in] * W^T, W [out x in] row-major
// bf16 (the GGUF layout), x bf16, y float32, float32 accumulation.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

namespace strata::cuda {

class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void linear(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
              cudaStream_t stream);

 private:
  cublasHandle_t handle_ = nullptr;
};

}  // namespace strata::cuda
