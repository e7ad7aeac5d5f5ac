// One unit of the tensor-core prefill attention: up to kPrefillTileTokens query tokens of one
// sequence whose positions fall in one aligned window [64 i, 64 i + 64). Aligned tiles make a
// token's result independent of how its prompt was chunked. Plain data: planned on the host,
// read by the kernel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace strata::cuda {

constexpr int kPrefillTileTokens = 64;

struct PrefillTile {
  int32_t first_token;  // flat index of the tile's first query token
  int32_t count;        // query tokens in the tile
  int32_t first_pos;    // position of the first
  int32_t table_row;    // the sequence's block-table row
};

// Appends the tiles of n_tokens consecutive query tokens of block-table row `table_row`, the
// first at flat index first_token and position first_pos.
inline void append_prefill_tiles(int32_t table_row, int32_t first_token, int32_t first_pos, int32_t n_tokens,
                                 std::vector<PrefillTile>& tiles) {
  for (int32_t j = 0; j < n_tokens;) {
    const int32_t pos = first_pos + j;
    const int32_t count = std::min(n_tokens - j, (pos / kPrefillTileTokens + 1) * kPrefillTileTokens - pos);
    tiles.push_back({first_token + j, count, pos, table_row});
    j += count;
  }
}

}  // namespace strata::cuda
