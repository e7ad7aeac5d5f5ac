#include <cuda_runtime.h>

#include "engine/cuda/device.h"

namespace strata::cuda {

DeviceQuery query_devices() {
  DeviceQuery query;
  int count = 0;
  // Without a driver the runtime returns an error and leaves `count` untouched.
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    query.reason = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return query;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    query.devices.push_back(DeviceInfo{i, prop.name, prop.totalGlobalMem, prop.major, prop.minor,
                                       prop.multiProcessorCount});
  }
  if (query.devices.empty()) query.reason = "the CUDA runtime reports no usable device";
  return query;
}

}  // namespace strata::cuda
