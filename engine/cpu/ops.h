// Elementwise and attention ops of the CPU forward pass (float32 activations, fp16 KV).
#pragma once

#include <cstdint>
#include <span>

#include "engine/attention/query_keys.h"

namespace strata::cpu {

// y = x / rms(x) * weight over n elements (sum of squares accumulated in double).
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);

// Rotary embedding in place on n_heads heads of head_dim, rotating adjacent pairs
// (x[2i], x[2i+1]) of the first rope_dim dimensions by freq_scale * pos * base^(-2i/rope_dim).
void rope_adjacent_pairs(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base,
                         float freq_scale = 1.0f);

// The same rotation of the pairs (x[i], x[i + rope_dim/2]) (GPT-NeoX style, as Gemma uses).
void rope_split_halves(float* x, int n_heads, int head_dim, int rope_dim, int64_t pos, float base,
                       float freq_scale = 1.0f);

// out = silu(gate) * up.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// out = gelu(gate) * up, GELU's tanh approximation looked up for gate rounded to fp16 (exact
// beyond +-10), as llama.cpp's CPU backend computes it.
void geglu_tanh(const float* gate, const float* up, float* out, int64_t n);

constexpr int kMaxHeadDim = 512;

// One layer's K or V of one sequence in a paged cache: position t lives in block
// block_table[t / block_size] at row t % block_size; a row holds [n_kv_heads x head_dim] fp16.
struct PagedKvView {
  const uint16_t* base;
  const int32_t* block_table;
  int32_t block_size;
  int64_t block_stride;  // elements per block
  int64_t token_stride;  // elements per row (n_kv_heads * head_dim)

  const uint16_t* row(int64_t t) const {
    return base + block_table[t / block_size] * block_stride + (t % block_size) * token_stride;
  }
};

// Grouped-query attention of one query head against the sequence's keys that `keys` names:
// ascending, disjoint ranges (every earlier key, a sliding window, sinks + a window as
// QueryKeys::ranges(), or block_topk's pages). Keys outside them are never read: their blocks
// may have left the cache.
// q: [n_heads x head_dim] float (head_dim <= kMaxHeadDim); out like q (only this head written);
// scores: as many floats as the last range's end; on return each read key's entry holds its
// softmax weight (what `evict` layers score keys by). q and the softmax weights are rounded to
// fp16 before their products, as llama.cpp's CPU path does with an fp16 cache, so the two stay
// numerically close. The result depends only on the sequence and the keys read, never on the
// block layout, the batch or how the keys are split into ranges.
void attention_one_query(const float* q, const PagedKvView& k, const PagedKvView& v,
                         std::span<const attention::KeyRange> keys, int head, int n_heads, int n_kv_heads,
                         int head_dim, float scale, float* scores, float* out);

}  // namespace strata::cpu
