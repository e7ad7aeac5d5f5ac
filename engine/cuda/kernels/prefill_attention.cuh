// Causal GQA attention of prefill tiles over the paged fp16 KV cache on tensor cores
// (FlashAttention-2 style): one block per (tile of 64 queries, query head), 4 warps of 16
// query rows. Each step loads 64 keys and values (through the block table, so pages of any
// size) into shared memory, computes S = Q K^T with WMMA, updates each row's online softmax in
// registers (two lanes per row), rescales the row's output and adds P V with WMMA. Key steps
// are aligned to absolute positions, like the query tiles, so every query sees the same
// sequence of steps whatever the chunking.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "engine/cuda/prefill_tile.h"

#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

constexpr int kPrefillWarps = 4;
constexpr int kKeyStep = 64;

struct PrefillAttentionArgs {
  const float* q;            // token t, head h at q[t * q_stride + h * head_dim] (unscaled)
  const __half* k_cache;     // the layer's [blocks x block_size x n_kv_heads x head_dim]
  const __half* v_cache;
  const int* block_tables;   // [rows x table_stride]
  const cuda::PrefillTile* tiles;
  __nv_bfloat16* out;        // [tokens x n_heads x head_dim]
  float* lse;                // [tokens x n_heads], or null
  int q_stride, n_heads, n_kv_heads, block_size, table_stride;
  int window;  // a query at position p sees keys (p - window, p]; 0 = all earlier keys
  int sinks;   // with a window: the first `sinks` keys stay visible too (StreamingLLM)
  float scale;
};

// Shared memory of one block, in bytes (the kernel's dynamic allocation).
template <int kHeadDim>
constexpr size_t prefill_shared_bytes() {
  constexpr size_t half_tile = size_t{kPrefillTileTokens} * (kHeadDim + 8) * 2;
  return 3 * half_tile                                        // Q, K, V
         + size_t{kPrefillTileTokens} * (kKeyStep + 4) * 4    // S
         + size_t{kPrefillTileTokens} * (kKeyStep + 8) * 2    // P
         + size_t{kPrefillTileTokens} * (kHeadDim + 4) * 4;   // O
}

template <int kHeadDim>
__global__ void __launch_bounds__(32 * kPrefillWarps) prefill_attention(PrefillAttentionArgs a) {
  wait_for_inputs();
  using namespace nvcuda;
  constexpr int kT = kPrefillTileTokens, kQk = kHeadDim + 8, kS = kKeyStep + 4, kP = kKeyStep + 8, kO = kHeadDim + 4;
  extern __shared__ uint4 shared_raw[];
  __half* q_s = reinterpret_cast<__half*>(shared_raw);
  __half* k_s = q_s + kT * kQk;
  __half* v_s = k_s + kT * kQk;
  float* s_s = reinterpret_cast<float*>(v_s + kT * kQk);
  __half* p_s = reinterpret_cast<__half*>(s_s + kT * kS);
  float* o_s = reinterpret_cast<float*>(p_s + kT * kP);

  const cuda::PrefillTile tile = a.tiles[blockIdx.x];
  const int head = blockIdx.y, kv_head = head / (a.n_heads / a.n_kv_heads);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int* table = a.block_tables + static_cast<size_t>(tile.table_row) * a.table_stride;
  const size_t kv_row = static_cast<size_t>(a.n_kv_heads) * kHeadDim;
  const int last_pos = tile.first_pos + tile.count - 1;

  for (int i = threadIdx.x; i < kT * kHeadDim; i += blockDim.x) {
    const int r = i / kHeadDim, e = i % kHeadDim;
    const float v = r < tile.count ? a.q[static_cast<size_t>(tile.first_token + r) * a.q_stride + head * kHeadDim + e] * a.scale : 0.0f;
    q_s[r * kQk + e] = __float2half(v);
    o_s[r * kO + e] = 0.0f;
  }

  // Row state: lanes 2r' and 2r'+1 of a warp own row 16 * warp + r', each half of its columns.
  const int row = 16 * warp + lane / 2, half = lane % 2;
  const int q_pos = tile.first_pos + row;
  const int q_first_key = a.window > 0 ? q_pos - a.window + 1 : 0;  // may be negative: no limit then
  const bool row_valid = row < tile.count;
  auto visible = [&](int key) { return key <= q_pos && (key >= q_first_key || key < a.sinks); };
  float m = -INFINITY, l = 0.0f;
  // Steps no query of the tile sees (past the sinks, before every window) are skipped: they
  // would add exact zeros, so skipping them keeps results independent of the tiling.
  const int tile_first_key = a.window > 0 ? tile.first_pos - a.window + 1 : 0;

  // Nor are the keys of a step no query of the tile sees read: they may lie in blocks a window
  // released (another sequence's by now); zeros in their place add the same exact zeros.
  auto tile_sees = [&](int key) { return key <= last_pos && (key >= tile_first_key || key < a.sinks); };

  for (int kb = 0; kb <= last_pos; kb += kKeyStep) {
    if (kb >= a.sinks && kb + kKeyStep <= tile_first_key) continue;
    __syncthreads();  // the previous step's K and V are no longer read
    for (int i = threadIdx.x; i < kKeyStep * (kHeadDim / 8); i += blockDim.x) {
      const int r = i / (kHeadDim / 8), c = (i % (kHeadDim / 8)) * 8, key = kb + r;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
      if (tile_sees(key)) {
        const size_t slot = static_cast<size_t>(table[key / a.block_size]) * a.block_size + key % a.block_size;
        kv = *reinterpret_cast<const uint4*>(a.k_cache + slot * kv_row + kv_head * kHeadDim + c);
        vv = *reinterpret_cast<const uint4*>(a.v_cache + slot * kv_row + kv_head * kHeadDim + c);
      }
      *reinterpret_cast<uint4*>(k_s + r * kQk + c) = kv;
      *reinterpret_cast<uint4*>(v_s + r * kQk + c) = vv;
    }
    __syncthreads();

    // S (this warp's 16 rows x 64 keys) = Q K^T
    for (int n = 0; n < kKeyStep / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int k = 0; k < kHeadDim / 16; ++k) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> qa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> kb_frag;
        wmma::load_matrix_sync(qa, q_s + 16 * warp * kQk + 16 * k, kQk);
        wmma::load_matrix_sync(kb_frag, k_s + 16 * n * kQk + 16 * k, kQk);
        wmma::mma_sync(acc, qa, kb_frag, acc);
      }
      wmma::store_matrix_sync(s_s + 16 * warp * kS + 16 * n, acc, kS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of the row's 32 columns; the pair of lanes combines.
    float tile_max = -INFINITY;
    for (int c = 32 * half; c < 32 * half + 32; ++c) {
      if (row_valid && visible(kb + c)) tile_max = fmaxf(tile_max, s_s[row * kS + c]);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    const float correction = m_new == -INFINITY ? 1.0f : __expf(m - m_new);
    float sum = 0.0f;
    for (int c = 32 * half; c < 32 * half + 32; ++c) {
      const bool seen = row_valid && visible(kb + c);
      const float p = seen ? __expf(s_s[row * kS + c] - m_new) : 0.0f;
      p_s[row * kP + c] = __float2half(p);
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * correction + sum;
    m = m_new;
    for (int e = half * (kHeadDim / 2); e < (half + 1) * (kHeadDim / 2); ++e) o_s[row * kO + e] *= correction;
    __syncwarp();

    // O (16 rows x head_dim) += P V
    for (int d = 0; d < kHeadDim / 16; ++d) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, o_s + 16 * warp * kO + 16 * d, kO, wmma::mem_row_major);
      for (int k = 0; k < kKeyStep / 16; ++k) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vb;
        wmma::load_matrix_sync(pa, p_s + 16 * warp * kP + 16 * k, kP);
        wmma::load_matrix_sync(vb, v_s + 16 * k * kQk + 16 * d, kQk);
        wmma::mma_sync(acc, pa, vb, acc);
      }
      wmma::store_matrix_sync(o_s + 16 * warp * kO + 16 * d, acc, kO, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (!row_valid) return;
  const size_t q_row = static_cast<size_t>(tile.first_token + row) * a.n_heads + head;
  for (int e = half * (kHeadDim / 2); e < (half + 1) * (kHeadDim / 2); ++e) {
    a.out[q_row * kHeadDim + e] = __float2bfloat16(o_s[row * kO + e] / l);
  }
  if (a.lse != nullptr && half == 0) a.lse[q_row] = m + logf(l);
}

}  // namespace strata::cuda::kernels
