// SplitMix64's finalizer: a counter-based generator (every draw a function of its counter),
// on the host and in CUDA kernels alike.
#pragma once

#include <cstdint>

#include "engine/common/host_device.h"

namespace strata {

STRATA_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace strata
