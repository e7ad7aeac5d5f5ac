// Linear layers on the GPU: y[n x out] = f(x)[n x in] * W^T, W [out x in] row-major bf16 (the
// GGUF layout), f(x) bf16, y float32, float32 accumulation; f is nothing or the RMSNorm before
// the projection. One token (decode at batch 1) runs our GEMV (kernels/single_token_linear.cuh);
// more run through cuBLAS.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "engine/cuda/device_array.h"

namespace strata::cuda {

class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // y = x W^T
  void linear(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, cudaStream_t stream);
  // y += x W^T: the residual add fused into the projection that produces it.
  void linear_add(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
                  cudaStream_t stream);
  // y = bf16(rmsnorm(x) * norm_weight) W^T, x fp32 [n x in]; h: n x in bf16 scratch.
  void norm_linear(const float* x, const float* norm_weight, float eps, uint16_t* h, const uint16_t* w_bf16, float* y,
                   int n_tokens, int in, int out, cudaStream_t stream);

 private:
  void cublas(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
              cudaStream_t stream);

  cublasHandle_t handle_ = nullptr;
  // A workspace of our own: cuBLAS must not allocate while a CUDA graph is being captured.
  DeviceArray<uint8_t> workspace_;
};

}  // namespace strata::cuda
