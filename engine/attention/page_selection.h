// `block_topk`'s choice of the pages one query reads (Quest-style, query-aware), defined once for
// the CPU and CUDA kernels: plain inline functions with no containers, callable from both.
//
// Pages are the cache's blocks of block_size tokens. A query at position p sees pages 0..P-1,
// P = p / block_size + 1 (the last one possibly partial). With a budget of K pages (top_pages, or
// ceil(page_fraction * P); at least sink_pages + recent_pages) it reads every page when P <= K,
// and otherwise pages [0, sink_pages), pages [P - recent_pages, P) and the
// K - sink_pages - recent_pages highest-scoring candidates among [sink_pages, P - recent_pages),
// all of them full pages; of equal scores the lower page wins. Keys past p are never read.
//
// A page's score for KV head g is the max over g's query heads h of
//   sum_i max(q_h[i] * lo[i], q_h[i] * hi[i])   (float, accumulated in index order i = 0, 1, ...)
// where q_h is the query as the attention kernel gets it (after RoPE, before the softmax scale)
// and lo / hi are the elementwise min / max over the page's block_size keys of head g as the
// cache stores them (fp16 after RoPE, so the bounds are fp16 values exactly). A block's bounds
// are computed when its last slot is written, in that step, before the step's attention, so
// queries later in the same chunk see them. All query heads of a group read the same pages.
//
// The selection applies to every query, prompt tokens included (Quest prefills densely): chunked
// prefill, ragged batches and preemption stay exact, and a teacher-forced run measures what
// decoding sees. With reuse (TidalDecode), a layer takes the pages that an earlier selecting
// layer chose for the same query and KV head instead of scoring its own.
#pragma once

#include <cstdint>

#include "engine/common/host_device.h"

namespace strata::attention {

// The budget of a block_topk layer (LayerPlan holds one).
struct PageBudget {
  int32_t top_pages = 0;        // K in pages; 0: K = ceil(page_fraction * P)
  double page_fraction = 0.0;   // in (0, 1] when top_pages is 0
  int32_t sink_pages = 1;       // leading pages every query reads
  int32_t recent_pages = 1;     // the query's own page and the recent_pages - 1 before it

  bool operator==(const PageBudget&) const = default;
};

// P: the pages a query at `pos` can see.
STRATA_HOST_DEVICE inline int32_t visible_pages(int64_t pos, int32_t block_size) {
  return static_cast<int32_t>(pos / block_size + 1);
}

// K for a query that sees `visible` pages (may exceed it: then every page is read).
STRATA_HOST_DEVICE inline int32_t pages_to_read(const PageBudget& budget, int32_t visible) {
  int64_t k = budget.top_pages;
  if (k == 0) {  // ceil without <cmath>, the same on both sides
    const double wanted = budget.page_fraction * static_cast<double>(visible);
    k = static_cast<int64_t>(wanted);
    if (static_cast<double>(k) < wanted) ++k;
  }
  const int64_t kept = int64_t{budget.sink_pages} + budget.recent_pages;
  return static_cast<int32_t>(k < kept ? kept : k);
}

// Score of one page for one query head: q has head_dim floats, lo / hi the page's bounds for the
// head's KV head; to_float widens one bound (the fp16 type differs between host and device).
// The products are rounded on their own: each feeds a max, never straight into the add, so no
// compiler fuses them.
template <typename Bound, typename ToFloat>
STRATA_HOST_DEVICE inline float page_score(const float* q, const Bound* lo, const Bound* hi, int32_t head_dim,
                                           ToFloat to_float) {
  float sum = 0.0f;
  for (int32_t i = 0; i < head_dim; ++i) {
    const float at_lo = q[i] * to_float(lo[i]);
    const float at_hi = q[i] * to_float(hi[i]);
    sum += at_lo > at_hi ? at_lo : at_hi;
  }
  return sum;
}

// The page's score for a KV head: the max of page_score over its query heads, whose queries lie
// head_dim floats apart from q_group on.
template <typename Bound, typename ToFloat>
STRATA_HOST_DEVICE inline float group_page_score(const float* q_group, int32_t group_heads, const Bound* lo,
                                                 const Bound* hi, int32_t head_dim, ToFloat to_float) {
  float best = page_score(q_group, lo, hi, head_dim, to_float);
  for (int32_t h = 1; h < group_heads; ++h) {
    const float score = page_score(q_group + static_cast<int64_t>(h) * head_dim, lo, hi, head_dim, to_float);
    best = score > best ? score : best;
  }
  return best;
}

// Writes the pages a query that sees `visible` pages reads into `pages`, ascending, and returns
// their count (min(K, visible)). score_of(page) gives a candidate page's score; it is called once
// per candidate, in ascending page order, and never when every page is read. `ranked_scores` is
// scratch for K - sink_pages - recent_pages floats; `pages` must hold min(K, visible).
template <typename ScoreOf>
STRATA_HOST_DEVICE inline int32_t select_pages(const PageBudget& budget, int32_t visible, ScoreOf score_of,
                                               int32_t* pages, float* ranked_scores) {
  const int32_t k = pages_to_read(budget, visible);
  if (visible <= k) {
    for (int32_t page = 0; page < visible; ++page) pages[page] = page;
    return visible;
  }
  const int32_t first_recent = visible - budget.recent_pages;
  const int32_t wanted = k - budget.sink_pages - budget.recent_pages;
  for (int32_t page = 0; page < budget.sink_pages; ++page) pages[page] = page;
  // The chosen candidates, best first; a later page displaces or passes an earlier one only with
  // a strictly higher score, so of equal scores the lower page wins.
  int32_t* chosen = pages + budget.sink_pages;
  int32_t count = 0;
  for (int32_t page = budget.sink_pages; wanted > 0 && page < first_recent; ++page) {
    const float score = score_of(page);
    if (count == wanted && !(score > ranked_scores[wanted - 1])) continue;
    int32_t at = count < wanted ? count++ : wanted - 1;
    for (; at > 0 && score > ranked_scores[at - 1]; --at) {
      chosen[at] = chosen[at - 1];
      ranked_scores[at] = ranked_scores[at - 1];
    }
    chosen[at] = page;
    ranked_scores[at] = score;
  }
  for (int32_t i = 1; i < count; ++i) {  // into page order
    const int32_t page = chosen[i];
    int32_t at = i;
    for (; at > 0 && chosen[at - 1] > page; --at) chosen[at] = chosen[at - 1];
    chosen[at] = page;
  }
  for (int32_t page = first_recent; page < visible; ++page) chosen[count++] = page;
  return budget.sink_pages + count;
}

}  // namespace strata::attention
