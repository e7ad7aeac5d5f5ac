// The CUDA devices this process can use. Host-only header: callers need no CUDA toolkit.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace strata::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;  // bytes
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
};

struct DeviceQuery {
  std::vector<DeviceInfo> devices;
  std::string reason;  // why `devices` is empty (the CUDA runtime's own message), else empty
};

// Never throws: a machine without a GPU or driver yields an empty list and the reason.
DeviceQuery query_devices();

}  // namespace strata::cuda
