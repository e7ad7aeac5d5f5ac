// The thin dispatch from the host API to the kernel templates.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/kernels/elementwise.cuh"
#include "engine/cuda/kernels/fill.cuh"
#include "engine/cuda/kernels/page_selection.cuh"
#include "engine/cuda/kernels/paged_attention.cuh"
#include "engine/cuda/kernels/prefill_attention.cuh"
#include "engine/cuda/kernels/rms_norm.cuh"
#include "engine/cuda/kernels/rope_kv_write.cuh"
#include "engine/cuda/kernels/sampling.cuh"
#include "engine/cuda/ops.h"
#include "engine/cuda/op_args.cuh"

namespace strata::cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int kRopeThreads = 1024;  // a thread per (head, pair) at decode, up to 8B-sized models

int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kRowThreads - 1) / kRowThreads, 65535)); }

}  // namespace

void rms_norm(const float* x, const float* weight, uint16_t* out_bf16, int tokens, int dim, float eps, cudaStream_t stream) {
  if (tokens <= 0) return;
  kernels::launch_dependent(kernels::rms_norm, tokens, kernels::kNormThreads, 0, stream, x, weight, as<__nv_bfloat16>(out_bf16), dim, eps);
  launched("rms_norm");
}

void norm_add(const float* y, const float* weight, float* residual, int tokens, int dim, float eps, cudaStream_t stream) {
  if (tokens <= 0) return;
  kernels::launch_dependent(kernels::norm_add, tokens, kernels::kNormThreads, 0, stream, y, weight, residual, dim, eps);
}

void head_rms_norm(float* qkv, const float* q_weight, const float* k_weight, int tokens, int n_heads, int n_kv_heads,
                   int head_dim, float eps, cudaStream_t stream) {
  const int heads = tokens * (n_heads + n_kv_heads);
  if (heads <= 0) return;
  constexpr int kWarps = 8;
  kernels::launch_dependent(kernels::head_rms_norm, (heads + kWarps - 1) / kWarps, 32 * kWarps, 0, stream, qkv, q_weight,
                            k_weight, tokens, (n_heads + 2 * n_kv_heads) * head_dim, n_heads, n_kv_heads, head_dim, eps);
}

void embed(const uint16_t* table_bf16, const int32_t* tokens, float* hidden, int n_tokens, int dim, float scale,
           cudaStream_t stream) {
  if (n_tokens <= 0) return;
  kernels::launch_dependent(kernels::embed, n_tokens, kRowThreads, 0, stream, as<__nv_bfloat16>(table_bf16), tokens, hidden, dim,
                            scale);
  launched("embed");
}

void gather_rows(const float* src, const int32_t* rows, float* dst, int n_rows, int dim, cudaStream_t stream) {
  if (n_rows <= 0) return;
  kernels::launch_dependent(kernels::gather_rows, n_rows, kRowThreads, 0, stream, src, rows, dst, dim);
  launched("gather_rows");
}

void gated_activation(const float* gate_up, uint16_t* out_bf16, int tokens, int n_ff, GatedActivation activation,
                      cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(tokens) * n_ff;
  if (n <= 0) return;
  auto* out = as<__nv_bfloat16>(out_bf16);
  with_activation(activation, [&](auto act) {
    kernels::launch_dependent(kernels::gated_activation<decltype(act)>, grid_for(n), kRowThreads, 0, stream, gate_up, out,
                              static_cast<size_t>(n), n_ff);
  });
  launched("gated_activation");
}

kernels::RopeArgs rope_args(const RopeKvWriteShape& s) {
  if (s.head_dim % 2 != 0 || s.rope_dim % 2 != 0 || s.rope_dim > s.head_dim) {
    throw std::invalid_argument("rope_kv_write: head_dim and rope_dim must be even, rope_dim <= head_dim");
  }
  return {(s.n_heads + 2 * s.n_kv_heads) * s.head_dim,
          s.n_heads,
          s.n_kv_heads,
          s.head_dim,
          s.rope_dim,
          s.halves,
          -2.0f / static_cast<float>(s.rope_dim) * std::log2(s.rope_base),
          s.freq_scale,
          s.q_scale};
}

void rope_kv_write(float* qkv, const int32_t* positions, const int32_t* slots, uint16_t* k_cache_fp16,
                   uint16_t* v_cache_fp16, const RopeKvWriteShape& s, cudaStream_t stream) {
  if (s.tokens <= 0) return;
  kernels::launch_dependent(kernels::rope_kv_write, s.tokens, kRopeThreads, 0, stream, qkv, positions, slots,
                            as<__half>(k_cache_fp16), as<__half>(v_cache_fp16), rope_args(s));
  launched("rope_kv_write");
}

int attention_splits(int max_keys) {
  // Every row of up to max_keys keys fits: a shorter row's chunk may be smaller (8,192 keys take
  // 32 chunks of 256, 8,193 take 17 of 512), so past 32 chunks of 256 the grid has all 32.
  return std::min(kernels::kMaxSplits, (std::max(max_keys, 1) + kernels::kSplitKeys - 1) / kernels::kSplitKeys);
}

size_t paged_attention_workspace(const PagedAttentionShape& s) {
  const int splits = attention_splits(s.max_keys);
  if (splits <= 1) return 0;
  return static_cast<size_t>(s.tokens) * s.n_heads * splits * (static_cast<size_t>(s.head_dim) + 1);
}

void paged_attention(const float* q, const uint16_t* k_cache_fp16, const uint16_t* v_cache_fp16,
                     const int32_t* block_tables, const int32_t* token_table, const int32_t* token_keys,
                     const int32_t* token_list, uint16_t* out_bf16, float* lse, float* workspace,
                     const PagedAttentionShape& s, cudaStream_t stream, const PageLists& pages, const EvictRow* evict_rows) {
  if (s.tokens <= 0) return;
  if (s.n_heads % s.n_kv_heads != 0) throw std::invalid_argument("paged_attention: n_heads % n_kv_heads != 0");
  if (s.tokens > 65535) throw std::invalid_argument("paged_attention: more than 65535 query tokens");
  const int splits = attention_splits(s.max_keys);
  if (splits > 1 && workspace == nullptr) throw std::invalid_argument("paged_attention: split keys need a workspace");
  float* partial_out = workspace;
  float* partial_lse = splits > 1 ? workspace + static_cast<size_t>(s.tokens) * s.n_heads * splits * s.head_dim : nullptr;
  if ((pages.lists != nullptr) + (s.window > 0) + (evict_rows != nullptr) > 1) {
    throw std::invalid_argument("paged_attention: at most one of page lists, a window and evicted keys");
  }
  const kernels::PagedAttentionArgs args{q,           as<__half>(k_cache_fp16), as<__half>(v_cache_fp16),
                                         block_tables, token_table,           token_keys,
                                         token_list,   as<__nv_bfloat16>(out_bf16), lse,
                                         partial_out,  partial_lse,           s.q_stride,
                                         s.n_heads,    s.n_kv_heads,          s.block_size,
                                         s.table_stride, s.window,            s.sinks,
                                         s.scale,      pages.lists,           pages.stride,
                                         pages.budget,   evict_rows};
  const dim3 grid(static_cast<unsigned>(s.n_kv_heads), static_cast<unsigned>(s.tokens), static_cast<unsigned>(splits));
  with_head_dim(s.head_dim, "paged_attention", [&](auto head_dim) {
    with_group(s.n_heads / s.n_kv_heads, "paged_attention", [&](auto group) {
      kernels::launch_dependent(kernels::paged_attention<head_dim.value, group.value>, grid, 32 * kernels::kAttentionWarps, 0,
                                stream, args);
    });
  });
  launched("paged_attention");
  if (splits > 1) {
    kernels::launch_dependent(kernels::merge_splits, dim3(static_cast<unsigned>(s.n_heads), static_cast<unsigned>(s.tokens)), s.head_dim, 0, stream,
                              partial_out, partial_lse, token_list, as<__nv_bfloat16>(out_bf16), lse, s.n_heads, splits, s.head_dim);
    launched("merge_splits");
  }
}

void page_bounds(const uint16_t* k_cache_fp16, const int32_t* blocks, int n_blocks, uint16_t* bounds_fp16, int n_kv_heads,
                 int head_dim, int block_size, cudaStream_t stream) {
  if (n_blocks <= 0) return;
  if (head_dim % 2 != 0) throw std::invalid_argument("page_bounds: odd head_dim");
  kernels::launch_dependent(kernels::page_bounds, n_blocks, kRowThreads, 0, stream, as<__half>(k_cache_fp16), blocks,
                            as<__half>(bounds_fp16), n_kv_heads * head_dim, block_size);
  launched("page_bounds");
}

int page_list_stride(const PageSelectionShape& s) {
  return std::min(s.max_pages, attention::pages_to_read(s.budget, s.max_pages));
}

size_t page_selection_workspace(const PageSelectionShape& s) {
  return static_cast<size_t>(s.tokens) * s.n_kv_heads * s.max_pages;
}

void select_pages(const float* q, const uint16_t* bounds_fp16, const int32_t* block_tables, const int32_t* token_table,
                  const int32_t* token_keys, int32_t* page_lists, float* workspace, const PageSelectionShape& s,
                  cudaStream_t stream) {
  if (s.tokens <= 0) return;
  if (s.n_heads % s.n_kv_heads != 0) throw std::invalid_argument("select_pages: n_heads % n_kv_heads != 0");
  if (s.tokens > 65535) throw std::invalid_argument("select_pages: more than 65535 query tokens");
  const attention::PageBudget& b = s.budget;
  if (b.sink_pages < 0 || b.recent_pages < 1 || (b.top_pages <= 0 && !(b.page_fraction > 0.0 && b.page_fraction <= 1.0))) {
    throw std::invalid_argument("select_pages: a budget needs recent_pages >= 1 and top_pages > 0 or page_fraction in (0, 1]");
  }
  // Candidate keys live in shared memory; the compaction packs two counts of up to 65535.
  const size_t shared = static_cast<size_t>(s.max_pages) * sizeof(uint32_t);
  int device = 0, shared_limit = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), "shared memory limit");
  if (s.max_pages > 65535 || shared + 4096 > static_cast<size_t>(shared_limit)) {
    throw std::invalid_argument("select_pages: " + std::to_string(s.max_pages) + " pages exceed what one block selects from");
  }
  check(cudaFuncSetAttribute(kernels::select_pages, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
        "select_pages shared memory");
  const kernels::PageSelectionArgs args{q,         as<__half>(bounds_fp16), block_tables,      token_table, token_keys,
                                        workspace, page_lists,              s.q_stride,        s.n_heads,   s.n_kv_heads,
                                        s.block_size, s.table_stride,      s.max_pages,       page_list_stride(s), b};
  const dim3 score_grid(static_cast<unsigned>((s.max_pages + kernels::kScorePages - 1) / kernels::kScorePages),
                        static_cast<unsigned>(s.n_kv_heads), static_cast<unsigned>(s.tokens));
  with_head_dim(s.head_dim, "select_pages", [&](auto head_dim) {
    with_group(s.n_heads / s.n_kv_heads, "select_pages", [&](auto group) {
      kernels::launch_dependent(kernels::page_scores<head_dim.value, group.value>, score_grid, 32 * kernels::kScoreWarps, 0,
                                stream, args);
    });
  });
  launched("page_scores");
  kernels::launch_dependent(kernels::select_pages, dim3(static_cast<unsigned>(s.n_kv_heads), static_cast<unsigned>(s.tokens)),
                            kernels::kSelectThreads, shared, stream, args);
  launched("select_pages");
}

void sample_rows(const float* logits, int vocab, const SampleRowArgs* rows, int n_rows,
                 const sampling::TokenAdjustment* adjustments, float* work, SampledOut* out, cudaStream_t stream) {
  if (n_rows <= 0) return;
  kernels::launch_dependent(kernels::sample_rows, n_rows, kernels::kSampleThreads, 0, stream, logits, vocab, rows, adjustments, work,
                            out);
  launched("sample_rows");
}

template <int kHeadDim>
void launch_prefill(const kernels::PrefillAttentionArgs& args, int n_tiles, int n_heads, cudaStream_t stream) {
  constexpr size_t shared = kernels::prefill_shared_bytes<kHeadDim>();
  check(cudaFuncSetAttribute(kernels::prefill_attention<kHeadDim>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(shared)),
        "prefill_attention shared memory");
  kernels::launch_dependent(kernels::prefill_attention<kHeadDim>, dim3(static_cast<unsigned>(n_tiles), static_cast<unsigned>(n_heads)),
                            32 * kernels::kPrefillWarps, shared, stream, args);
}

void prefill_attention(const float* q, const uint16_t* k_cache_fp16, const uint16_t* v_cache_fp16,
                       const int32_t* block_tables, const PrefillTile* tiles, int n_tiles, uint16_t* out_bf16, float* lse,
                       const PagedAttentionShape& s, cudaStream_t stream) {
  if (n_tiles <= 0) return;
  if (s.n_heads % s.n_kv_heads != 0) throw std::invalid_argument("prefill_attention: n_heads % n_kv_heads != 0");
  const kernels::PrefillAttentionArgs args{q,          as<__half>(k_cache_fp16), as<__half>(v_cache_fp16),
                                           block_tables, tiles,                 as<__nv_bfloat16>(out_bf16),
                                           lse,        s.q_stride,              s.n_heads,
                                           s.n_kv_heads, s.block_size,          s.table_stride,
                                           s.window,   s.sinks,                 s.scale};
  with_head_dim(s.head_dim, "prefill_attention",
                [&](auto head_dim) { launch_prefill<head_dim.value>(args, n_tiles, s.n_heads, stream); });
  launched("prefill_attention");
}

void fill_uniform_bf16(uint16_t* out_bf16, int64_t n, uint64_t seed, float scale, cudaStream_t stream) {
  if (n <= 0) return;
  kernels::fill_uniform_bf16<<<grid_for(n), kRowThreads, 0, stream>>>(as<__nv_bfloat16>(out_bf16), static_cast<size_t>(n), seed, scale);
  launched("fill_uniform_bf16");
}

void fill_f32(float* out, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  kernels::fill_f32<<<grid_for(n), kRowThreads, 0, stream>>>(out, static_cast<size_t>(n), value);
  launched("fill_f32");
}

}  // namespace strata::cuda
