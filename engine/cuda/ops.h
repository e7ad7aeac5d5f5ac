// Host entry points of the CUDA ops: each validates its shape arguments and launches its kernel
// on `stream` (asynchronous). Buffers are device pointers; bf16 and fp16 values are passed as
// their 16-bit patterns so this header needs no CUDA half types.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/attention/page_selection.h"
#include "engine/cuda/eviction_inputs.h"
#include "engine/cuda/prefill_tile.h"
#include "engine/cuda/sample_args.h"

namespace strata::cuda {

// out[t] = bf16(rmsnorm(x[t]) * weight).
void rms_norm(const float* x, const float* weight, uint16_t* out_bf16, int tokens, int dim, float eps, cudaStream_t stream);

// residual[t] += rmsnorm(y[t]) * weight (a block's output through its post-norm).
void norm_add(const float* y, const float* weight, float* residual, int tokens, int dim, float eps, cudaStream_t stream);

// RMSNorm of every q head (q_weight) and k head (k_weight) of the fused qkv rows, in place.
void head_rms_norm(float* qkv, const float* q_weight, const float* k_weight, int tokens, int n_heads, int n_kv_heads,
                   int head_dim, float eps, cudaStream_t stream);

// hidden[t] = table[tokens[t]] * scale (bf16 table, float hidden).
void embed(const uint16_t* table_bf16, const int32_t* tokens, float* hidden, int n_tokens, int dim, float scale,
           cudaStream_t stream);

// dst[i] = src[rows[i]] for n_rows rows of dim floats.
void gather_rows(const float* src, const int32_t* rows, float* dst, int n_rows, int dim, cudaStream_t stream);

enum class GatedActivation { kSilu, kGeluTanh };  // SwiGLU, GeGLU
// out[t] = bf16(act(gate_up[t][:n_ff]) * gate_up[t][n_ff:]) for rows of 2 x n_ff floats.
void gated_activation(const float* gate_up, uint16_t* out_bf16, int tokens, int n_ff, GatedActivation activation,
                      cudaStream_t stream);

struct RopeKvWriteShape {
  int tokens, n_heads, n_kv_heads, head_dim, rope_dim;
  float rope_base;
  bool halves = false;      // pairs (i, i + rope_dim/2) (NeoX, Gemma) rather than (2i, 2i + 1)
  float freq_scale = 1.0f;  // linear RoPE scaling
  float q_scale = 1.0f;     // q multiplied by this after the rotation
};
// Rows of qkv hold q [n_heads x head_dim], k and v [n_kv_heads x head_dim] each. RoPE on q (in
// place, then scaled by q_scale) and k, and the write of k and v as fp16 into cache row slots[t]
// of the layer's paged cache ([blocks x block_size] rows of n_kv_heads x head_dim).
void rope_kv_write(float* qkv, const int32_t* positions, const int32_t* slots, uint16_t* k_cache_fp16,
                   uint16_t* v_cache_fp16, const RopeKvWriteShape& shape, cudaStream_t stream);

struct PagedAttentionShape {
  int tokens;  // query tokens: the length of token_list, or all tokens 0..tokens-1 without one
  int n_heads, n_kv_heads, head_dim, block_size;
  int q_stride;      // floats from one token's q to the next
  int table_stride;  // ints from one block-table row to the next
  int max_keys;      // at least the keys any token attends to: sizes the split-KV grid
  float scale;
  int window = 0;    // a query at position p sees keys (p - window, p]; 0 = all earlier keys
  int sinks = 0;     // with a window: the first `sinks` keys stay visible too (StreamingLLM)
};
// block_topk's selection for paged_attention: each (token, KV head) reads only the pages of its
// list (select_pages' output; no window with it).
struct PageLists {
  const int32_t* lists = nullptr;  // [tokens x n_kv_heads x stride]
  int stride = 0;
  attention::PageBudget budget;
};
// Key splits the grid has for rows of up to max_keys keys: as many as the row that needs the
// most (256 keys a split, at most 32; a row's splits past its keys are empty).
int attention_splits(int max_keys);
// Floats of workspace paged_attention needs for `shape` (0 with one split).
size_t paged_attention_workspace(const PagedAttentionShape& shape);
// Causal attention of each query token (token_list[i], or i without a list) over its first
// token_keys[t] cached keys (or the pages of its lists), through block table row token_table[t]:
// split-KV on CUDA cores, for decode tokens. head_dim 64, 128 or 256; up to 8 query heads per KV
// head; lse may be null. With page lists, shape.max_keys bounds the keys read (block_size times
// the lists' stride at most). With evict_rows (one per block-table row; `evict` layers) a token
// reads its row's slots [0, packed_end) and [natural_begin, token_keys[t]).
void paged_attention(const float* q, const uint16_t* k_cache_fp16, const uint16_t* v_cache_fp16,
                     const int32_t* block_tables, const int32_t* token_table, const int32_t* token_keys,
                     const int32_t* token_list, uint16_t* out_bf16, float* lse, float* workspace,
                     const PagedAttentionShape& shape, cudaStream_t stream, const PageLists& pages = {},
                     const EvictRow* evict_rows = nullptr);
// The same attention for the query tokens of prefill tiles, on tensor cores (shape.tokens and
// max_keys unused). head_dim 64, 128 or 256.
void prefill_attention(const float* q, const uint16_t* k_cache_fp16, const uint16_t* v_cache_fp16,
                       const int32_t* block_tables, const PrefillTile* tiles, int n_tiles, uint16_t* out_bf16, float* lse,
                       const PagedAttentionShape& shape, cudaStream_t stream);

// block_topk (engine/attention/page_selection.h). A layer's page bounds hold, per cache block,
// the elementwise min then max of its keys: 2 x n_kv_heads x head_dim fp16.
// Computes the bounds of the n_blocks cache blocks listed in `blocks` (those a step completes)
// from the layer's K cache: after the step's KV write, before its attention.
void page_bounds(const uint16_t* k_cache_fp16, const int32_t* blocks, int n_blocks, uint16_t* bounds_fp16, int n_kv_heads,
                 int head_dim, int block_size, cudaStream_t stream);

struct PageSelectionShape {
  int tokens;  // query tokens 0..tokens-1
  int n_heads, n_kv_heads, head_dim, block_size;
  int q_stride, table_stride;
  int max_pages;  // at least the pages any token sees
  attention::PageBudget budget;
};
// Entries of one page list: the most pages a token of up to max_pages reads.
int page_list_stride(const PageSelectionShape& shape);
// Floats of workspace select_pages needs (one score per candidate page).
size_t page_selection_workspace(const PageSelectionShape& shape);
// The pages each (token, KV head) reads, ascending, into page_lists ([tokens x n_kv_heads x
// page_list_stride]): every page when it sees at most K, else the sink and recent pages and the
// best-scoring candidates by the query q (as paged_attention takes it). Up to 8 query heads per
// KV head, head_dim 64, 128 or 256.
void select_pages(const float* q, const uint16_t* bounds_fp16, const int32_t* block_tables, const int32_t* token_table,
                  const int32_t* token_keys, int32_t* page_lists, float* workspace, const PageSelectionShape& shape,
                  cudaStream_t stream);

// One token per row (engine/sampling/sample_row.h's definition) from rows of `logits`
// ([any x vocab]); work: n_rows x vocab floats of scratch, or null when no row adjusts a token.
void sample_rows(const float* logits, int vocab, const SampleRowArgs* rows, int n_rows,
                 const sampling::TokenAdjustment* adjustments, float* work, SampledOut* out, cudaStream_t stream);

// out[i] = bf16(uniform(-scale, scale)), a fixed function of (seed, i).
void fill_uniform_bf16(uint16_t* out_bf16, int64_t n, uint64_t seed, float scale, cudaStream_t stream);
void fill_f32(float* out, int64_t n, float value, cudaStream_t stream);

}  // namespace strata::cuda
