// block_topk on the CPU: the pages each query of one forward step reads in a layer that scores
// pages (page_selection.h), one list per (token, KV head). The step keeps it while later layers
// reuse the choice (TidalDecode).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/attention/page_selection.h"
#include "engine/attention/query_keys.h"
#include "engine/cpu/thread_pool.h"
#include "engine/model/paged_kv_store.h"

namespace strata::model {

// The shape of one step's queries: q is [tokens x n_heads x head_dim] float, after RoPE.
struct StepQueries {
  const float* q;
  std::span<const int32_t> positions;  // per token
  int n_heads;
  int n_kv_heads;
  int head_dim;
};

class StepPageSelection {
 public:
  // Chooses the pages of every token and KV head under `budget`, scoring full pages by their
  // key bounds in `bounds`; block_table_of(token) is the token's sequence's block table.
  StepPageSelection(const attention::PageBudget& budget, const StepQueries& queries, const KeyBoundsView& bounds,
                    const std::function<const int32_t*(int64_t)>& block_table_of, int32_t block_size,
                    cpu::ThreadPool& pool);

  // The pages `token`'s queries of KV head `kv_head` read, ascending.
  std::span<const int32_t> pages(int64_t token, int kv_head) const {
    const size_t at = static_cast<size_t>(token * n_kv_heads_ + kv_head);
    return std::span(pages_).subspan(at * static_cast<size_t>(most_pages_), static_cast<size_t>(counts_[at]));
  }
  int32_t most_pages() const { return most_pages_; }

 private:
  int n_kv_heads_;
  int32_t most_pages_;          // the most pages one query can see: the stride of pages_
  std::vector<int32_t> pages_;  // [token][kv_head][most_pages_]
  std::vector<int32_t> counts_;
};

// The keys of `pages` (ascending) for a query whose keys end at `end`: adjacent pages merged
// into one range, the last cut at `end`. Writes up to pages.size() ranges; returns how many.
size_t page_key_ranges(std::span<const int32_t> pages, int32_t block_size, int64_t end, attention::KeyRange* ranges);

}  // namespace strata::model
