// Kernel arguments and template choices shared by the op dispatch (ops.cu) and the projections
// that fuse those ops (gemm.cu).
#pragma once

#include "engine/cuda/kernels/activations.cuh"
#include "engine/cuda/kernels/rope.cuh"
#include "engine/cuda/ops.h"

namespace strata::cuda {

// The RoPE kernel arguments of a shape, validated.
kernels::RopeArgs rope_args(const RopeKvWriteShape& shape);

// launch(kernels::Silu{}) or launch(kernels::GeluTanh{}).
template <typename Launch>
void with_activation(GatedActivation activation, Launch&& launch) {
  if (activation == GatedActivation::kSilu) {
    launch(kernels::Silu{});
  } else {
    launch(kernels::GeluTanh{});
  }
}

}  // namespace strata::cuda
