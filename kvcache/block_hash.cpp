#include "kvcache/block_hash.h"

#include <array>
#include <type_traits>

namespace strata::kvcache {

namespace {

// Fixed byte order, so equal blocks hash equally on every host.
template <typename Int>
void update_little_endian(Sha256& sha, Int value) {
  std::array<uint8_t, sizeof(Int)> bytes;
  for (size_t i = 0; i < sizeof(Int); ++i) {
    bytes[i] = static_cast<uint8_t>(static_cast<std::make_unsigned_t<Int>>(value) >> (8 * i));
  }
  sha.update(bytes.data(), bytes.size());
}

}  // namespace

BlockHash sha256_block_hash(const BlockHash& parent, std::span<const TokenId> tokens, std::string_view extra_key) {
  Sha256 sha;
  sha.update(parent.data(), parent.size());
  // The length prefix keeps (extra_key, tokens) unambiguous.
  update_little_endian(sha, static_cast<uint64_t>(extra_key.size()));
  sha.update(extra_key.data(), extra_key.size());
  for (const TokenId token : tokens) update_little_endian(sha, token);
  return sha.finish();
}

}  // namespace strata::kvcache
