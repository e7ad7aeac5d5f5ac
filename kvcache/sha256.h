// SHA-256 (FIPS 180-4), fed incrementally. The prefix cache keys blocks with it; it is here
// rather than linked from a crypto library so that kvcache depends on nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace strata::kvcache {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  void update(const void* data, size_t size);
  Sha256Digest finish();  // the object is spent afterwards

 private:
  void compress(const uint8_t* chunk);

  std::array<uint32_t, 8> state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace strata::kvcache
