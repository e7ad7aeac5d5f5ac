// Linear layers on the GPU: y[n x out] = x[n x in] * W^T, W [out x in] row-major bf16 (the GGUF
// layout), x bf16, y float32, float32 accumulation. Up to 8 tokens (decode at small batch) run
// our GEMV (kernels/small_batch_linear.cuh); more run through cuBLAS.
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
  void linear(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
              cudaStream_t stream) {
    run(x_bf16, w_bf16, y, n_tokens, in, out, 0.0f, stream);
  }
  // y += x W^T: the residual add fused into the projection that produces it.
  void linear_add(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
                  cudaStream_t stream) {
    run(x_bf16, w_bf16, y, n_tokens, in, out, 1.0f, stream);
  }

 private:
  void run(const uint16_t* x_bf16, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
           cudaStream_t stream);

  cublasHandle_t handle_ = nullptr;
  // A workspace of our own: cuBLAS must not allocate while a CUDA graph is being captured.
  DeviceArray<uint8_t> workspace_;
};

}  // namespace strata::cuda
