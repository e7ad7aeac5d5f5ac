// The CUDA device query: on a GPU machine it lists devices; without one it explains why.
#include <gtest/gtest.h>

#include "engine/cuda/device.h"

TEST(CudaDevice, ListsDevicesOrSaysWhyNot) {
  auto query = strata::cuda::query_devices();
  if (query.devices.empty()) {
    EXPECT_FALSE(query.reason.empty());
    std::printf("[cuda] no device: %s\n", query.reason.c_str());
    return;
  }
  EXPECT_TRUE(query.reason.empty());
  for (const auto& d : query.devices) {
    std::printf("[cuda] device %d: %s, sm_%d%d, %d SMs, %.1f GiB\n", d.index, d.name.c_str(), d.compute_major,
                d.compute_minor, d.multiprocessors, static_cast<double>(d.total_memory) / (1 << 30));
    EXPECT_FALSE(d.name.empty());
    EXPECT_GE(d.compute_major * 10 + d.compute_minor, 75);  // CUDA 13 supports sm_75 and later
    EXPECT_GT(d.total_memory, size_t{1} << 30);
  }
}
