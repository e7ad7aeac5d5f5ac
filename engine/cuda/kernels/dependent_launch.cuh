// Programmatic dependent launch (Hopper): a kernel launched through launch_dependent() may start
// while the kernel before it on the stream is still finishing, so a chain of small kernels
// (decode at small batch) does not pay a full launch latency between each pair. Every such kernel
// calls wait_for_inputs() before it touches memory an earlier kernel writes; it also lets the
// next kernel start launching right away, since that one waits in turn.
#pragma once

#include <cuda_runtime.h>

#include "engine/cuda/cuda_check.h"

namespace strata::cuda::kernels {

__device__ inline void wait_for_inputs() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// kernel<<<grid, block, shared, stream>>>(args...) with programmatic stream serialization.
template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream,
                      Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  check(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...), "cudaLaunchKernelEx");
}

}  // namespace strata::cuda::kernels
