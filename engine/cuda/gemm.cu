#include "engine/cuda/cuda_check.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/kernels/single_token_linear.cuh"
#include "engine/cuda/op_args.cuh"
#include "engine/cuda/ops.h"

namespace strata::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLAS's recommendation for Hopper

// The one-token GEMV applies: in % 8 == 0 (16-byte rows).
bool single_token(int n_tokens, int in) { return n_tokens == 1 && in % 8 == 0; }

// f(x) as bf16 rows: the RMSNorm is written to the scratch first.
const uint16_t* materialized(const LinearInput& x, int n_tokens, int in, cudaStream_t stream) {
  if (x.kind == LinearInput::Kind::kBf16) return x.x_bf16;
  rms_norm(x.x, x.norm_weight, x.scratch, n_tokens, in, x.eps, stream);
  return x.scratch;
}

template <class Input, class Output>
void launch_single_token(const uint16_t* w_bf16, int in, int pairs, const Input& input, const Output& output, cudaStream_t stream) {
  const int blocks = (pairs + kernels::kLinearWarps - 1) / kernels::kLinearWarps;
  const size_t shared = Input::kStaged ? static_cast<size_t>(in) * 2 : 0;
  kernels::launch_dependent(kernels::single_token_linear<Input, Output>, blocks, 32 * kernels::kLinearWarps, shared, stream,
                            reinterpret_cast<const __nv_bfloat16*>(w_bf16), in, input, output);
  check(cudaGetLastError(), "single_token_linear");
}

// The one-token GEMV writing `pairs` pairs of rows through `output`. It stages the RMSNorm of its
// input itself unless the row is too wide for its threads' registers.
template <class Output>
void launch_single_token(const LinearInput& x, const uint16_t* w_bf16, int in, int pairs, const Output& output,
                         cudaStream_t stream) {
  if (in <= kernels::kMaxNormIn && x.kind == LinearInput::Kind::kRmsNorm) {
    return launch_single_token(w_bf16, in, pairs, kernels::RmsNormInput{x.x, x.norm_weight, x.eps}, output, stream);
  }
  const kernels::Bf16Input input{reinterpret_cast<const __nv_bfloat16*>(materialized(x, 1, in, stream))};
  launch_single_token(w_bf16, in, pairs, input, output, stream);
}

void single_token_rows(const LinearInput& x, const uint16_t* w_bf16, float* y, int in, int out, bool accumulate,
                       cudaStream_t stream) {
  launch_single_token(x, w_bf16, in, (out + 1) / 2, kernels::RowsOutput{y, out, accumulate}, stream);
}

}  // namespace

Gemm::Gemm() : workspace_(kWorkspaceBytes) {
  check(cublasCreate(&handle_), "cublasCreate");
  check(cublasSetWorkspace(handle_, workspace_.get(), kWorkspaceBytes), "cublasSetWorkspace");
}

Gemm::~Gemm() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

void Gemm::linear(const LinearInput& x, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, cudaStream_t stream) {
  if (!single_token(n_tokens, in)) return cublas(x, w_bf16, y, n_tokens, in, out, 0.0f, stream);
  single_token_rows(x, w_bf16, y, in, out, false, stream);
}

void Gemm::linear_add(const LinearInput& x, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out,
                      cudaStream_t stream) {
  if (!single_token(n_tokens, in)) return cublas(x, w_bf16, y, n_tokens, in, out, 1.0f, stream);
  single_token_rows(x, w_bf16, y, in, out, true, stream);
}

void Gemm::gated_linear(const LinearInput& x, const uint16_t* w_gate_up_bf16, float* gate_up, uint16_t* act_bf16,
                        int n_tokens, int in, int n_ff, GatedActivation activation, cudaStream_t stream) {
  if (!single_token(n_tokens, in)) {
    cublas(x, w_gate_up_bf16, gate_up, n_tokens, in, 2 * n_ff, 0.0f, stream);
    return gated_activation(gate_up, act_bf16, n_tokens, n_ff, activation, stream);
  }
  with_activation(activation, [&](auto act) {
    launch_single_token(x, w_gate_up_bf16, in, n_ff,
                        kernels::GatedOutput<decltype(act)>{reinterpret_cast<__nv_bfloat16*>(act_bf16), n_ff}, stream);
  });
}

void Gemm::rope_linear(const LinearInput& x, const uint16_t* w_qkv_bf16, float* qkv, int in, const int32_t* positions,
                       const int32_t* slots, uint16_t* k_cache_fp16, uint16_t* v_cache_fp16, const RopeKvWriteShape& rope,
                       cudaStream_t stream) {
  const kernels::RopeArgs args = rope_args(rope);
  if (!single_token(rope.tokens, in)) {
    cublas(x, w_qkv_bf16, qkv, rope.tokens, in, args.qkv_stride, 0.0f, stream);
    return rope_kv_write(qkv, positions, slots, k_cache_fp16, v_cache_fp16, rope, stream);
  }
  const kernels::RopeKvOutput output{qkv,
                                     positions,
                                     slots,
                                     reinterpret_cast<__half*>(k_cache_fp16),
                                     reinterpret_cast<__half*>(v_cache_fp16),
                                     args};
  launch_single_token(x, w_qkv_bf16, in, kernels::rope_pairs_per_row(args), output, stream);
}

void Gemm::cublas(const LinearInput& x, const uint16_t* w_bf16, float* y, int n_tokens, int in, int out, float beta,
                  cudaStream_t stream) {
  if (n_tokens <= 0) return;
  const uint16_t* x_bf16 = materialized(x, n_tokens, in, stream);
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
