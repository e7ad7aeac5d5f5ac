// Linear layers on the GPU: y[n x out] = f(x)[n x in] * W^T, W [out x in] row-major bf16 (the
// GGUF layout), f(x) bf16, y float32, float32 accumulation; f is nothing or the RMSNorm before
// the projection (LinearInput). One token (decode at batch 1) runs our GEMV
// (kernels/single_token_linear.cuh), which also takes in the RMSNorm before it and gives out the
// gated activation or RoPE + KV write after it; more tokens run through cuBLAS and those ops' own
// kernels.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "engine/cuda/device_array.h"
#include "engine/cuda/ops.h"

namespace strata::cuda {

// What a projection reads: f(x) as bf16 rows of `in` values.
struct LinearInput {
  enum class Kind {
    kBf16,     // f(x) = x, bf16 rows
    kRmsNorm,  // f(x) = bf16(rmsnorm(x) * norm_weight), fp32 rows x
  };
  Kind kind = Kind::kBf16;
  const uint16_t* x_bf16 = nullptr;
  const float* x = nullptr;
  const float* norm_weight = nullptr;
  float eps = 0.0f;
  uint16_t* scratch = nullptr;  // n x in bf16 for f(x) where the projection does not fuse it

  static LinearInput bf16(const uint16_t* x_bf16) { return {.x_bf16 = x_bf16}; }
  static LinearInput rms_norm(const float* x, const float* norm_weight, float eps, uint16_t* scratch) {
    return {.kind = Kind::kRmsNorm, .x = x, .norm_weight = norm_weight, .eps = eps, .scratch = scratch};
  }
};

class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // y = f(x) W^T
  void linear(const LinearInput& x, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, cudaStream_t stream);
  // y += f(x) W^T: the residual add fused into the projection that produces it.
  void linear_add(const LinearInput& x, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
                  cudaStream_t stream);
  // act = bf16(activation(f(x) W_gate^T) * f(x) W_up^T) with the fused gate/up weight
  // [2 n_ff x in] (gate rows first); gate_up: n x 2 n_ff fp32 scratch.
  void gated_linear(const LinearInput& x, const uint16_t* w_gate_up_bf16, float* gate_up, uint16_t* act_bf16, int n_tokens,
                    int in, int n_ff, GatedActivation activation, cudaStream_t stream);
  // qkv = f(x) W_qkv^T followed by rope_kv_write (ops.h) over it.
  void rope_linear(const LinearInput& x, const uint16_t* w_qkv_bf16, float* qkv, int in, const int32_t* positions,
                   const int32_t* slots, uint16_t* k_cache_fp16, uint16_t* v_cache_fp16, const RopeKvWriteShape& rope,
                   cudaStream_t stream);

 private:
  void cublas(const LinearInput& x, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
              cudaStream_t stream);

  cublasHandle_t handle_ = nullptr;
  // A workspace of our own: cuBLAS must not allocate while a CUDA graph is being captured.
  DeviceArray<uint8_t> workspace_;
};

}  // namespace strata::cuda
