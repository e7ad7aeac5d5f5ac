// The dispatch of `evict` layers' kernels.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/cuda/eviction_ops.h"
#include "engine/cuda/kernels/key_eviction.cuh"
#include "engine/cuda/op_args.cuh"

namespace strata::cuda {
namespace {

constexpr int kMoveThreads = 256;

unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

void check_grid(int compactions, int n_layers, const char* what) {
  if (compactions > 65535 || n_layers > 65535) throw std::invalid_argument(std::string(what) + ": grid too large");
}

}  // namespace

void accumulate_key_scores(const float* q, const uint16_t* k_cache_fp16, const float* lse, const int32_t* block_tables,
                           const int32_t* positions, const EvictRow* rows, int n_rows, int32_t* slot_positions,
                           float* slot_scores, const PagedAttentionShape& s, const attention::EvictionPlan& plan,
                           bool prompts, cudaStream_t stream) {
  if (n_rows <= 0) return;
  if (s.n_heads % s.n_kv_heads != 0) throw std::invalid_argument("accumulate_key_scores: n_heads % n_kv_heads != 0");
  if (n_rows > 65535) throw std::invalid_argument("accumulate_key_scores: more than 65535 rows");
  const kernels::KeyScoreArgs args{q,           as<__half>(k_cache_fp16), lse,            block_tables,
                                   positions,   rows,                     slot_positions, slot_scores,
                                   s.q_stride,  s.n_heads,                s.n_kv_heads,   s.block_size,
                                   s.table_stride, s.scale,               plan.policy == attention::EvictPolicy::kH2O,
                                   plan.recent_tokens};
  const dim3 grid(blocks_for(std::max(s.max_keys, 1), kernels::kScoreThreads), static_cast<unsigned>(s.n_kv_heads),
                  static_cast<unsigned>(n_rows));
  with_head_dim(s.head_dim, "accumulate_key_scores", [&](auto head_dim) {
    with_group(s.n_heads / s.n_kv_heads, "accumulate_key_scores", [&](auto group) {
      constexpr int kPrompt = kernels::kPromptQueries<head_dim.value, group.value>;
      kernels::launch_dependent(prompts ? kernels::accumulate_key_scores<head_dim.value, group.value, kPrompt>
                                        : kernels::accumulate_key_scores<head_dim.value, group.value, 1>,
                                grid, kernels::kScoreThreads, 0, stream, args);
    });
  });
  launched("accumulate_key_scores");
}

void choose_kept_slots(const int32_t* candidate_slots, int n_candidates, const CompactionRow* rows, int compactions,
                       int keep, int n_kv_heads, const EvictingLayer* layers, int n_layers, unsigned long long* keys,
                       SlotMove* moves, cudaStream_t stream) {
  if (compactions <= 0 || n_layers <= 0) return;
  check_grid(compactions, n_layers, "choose_kept_slots");
  const kernels::KeptChoiceArgs args{candidate_slots, rows, layers, keys, moves, n_candidates, n_kv_heads, keep};
  kernels::launch_dependent(kernels::choose_kept_slots,
                            dim3(static_cast<unsigned>(n_kv_heads), static_cast<unsigned>(compactions), static_cast<unsigned>(n_layers)),
                            kernels::kSelectThreads, 0, stream, args);
  launched("choose_kept_slots");
}

void compact_slots(const SlotMove* moves, int compactions, int keep, int n_kv_heads, int head_dim,
                   const EvictingLayer* layers, int n_layers, cudaStream_t stream) {
  if (compactions <= 0 || n_layers <= 0 || keep <= 0) return;
  check_grid(compactions, n_layers, "compact_slots");
  with_head_dim(head_dim, "compact_slots", [&](auto dim) {
    kernels::launch_dependent(kernels::compact_slots<dim.value>,
                              dim3(static_cast<unsigned>(n_kv_heads), static_cast<unsigned>(compactions),
                                   static_cast<unsigned>(n_layers)),
                              kMoveThreads, 0, stream, moves, layers, keep, n_kv_heads);
  });
  launched("compact_slots");
}

}  // namespace strata::cuda
