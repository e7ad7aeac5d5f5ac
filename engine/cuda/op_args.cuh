// Kernel arguments, template choices and launch helpers shared by the op dispatch files (ops.cu,
// eviction_ops.cu) and the projections that fuse those ops (gemm.cu).
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

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

// A 16-bit pattern buffer as the kernels' half type.
template <typename T>
T* as(uint16_t* p) {
  return reinterpret_cast<T*>(p);
}
template <typename T>
const T* as(const uint16_t* p) {
  return reinterpret_cast<const T*>(p);
}

// Checks the launch just made.
inline void launched(const char* what) { check(cudaGetLastError(), what); }

template <int kValue>
using Constant = std::integral_constant<int, kValue>;

// launch(Constant<kHeadDim>{}) for the head dims the attention kernels are built for.
template <typename Launch>
inline void with_head_dim(int head_dim, const char* what, Launch&& launch) {
  switch (head_dim) {
    case 64: launch(Constant<64>{}); break;
    case 128: launch(Constant<128>{}); break;
    case 256: launch(Constant<256>{}); break;
    default: throw std::invalid_argument(std::string(what) + ": unsupported head_dim " + std::to_string(head_dim));
  }
}

// launch(Constant<kGroup>{}): the smallest instance serving `group` query heads per KV head.
template <typename Launch>
inline void with_group(int group, const char* what, Launch&& launch) {
  if (group == 1) {
    launch(Constant<1>{});
  } else if (group == 2) {
    launch(Constant<2>{});
  } else if (group <= 4) {
    launch(Constant<4>{});
  } else if (group <= 8) {
    launch(Constant<8>{});
  } else {
    throw std::invalid_argument(std::string(what) + ": more than 8 query heads per KV head");
  }
}

}  // namespace strata::cuda
