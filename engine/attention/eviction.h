// The device-neutral rules of `evict` layers (evict_backend.h): where a sequence's kept keys sit
// in its blocks, when a step compacts, which queries score and which keys survive.
//
// Layout of one sequence in an evicting cache group of budget B (P = B / block_size blocks,
// B already rounded up to whole blocks by the cache): before its first compaction every token
// sits at its own position. A compaction packs the B keys each (layer, KV head) keeps into slots
// [0, B), position-sorted, and empties the full blocks [P, F) behind them (F = the full blocks of
// the sequence), which the caller releases; tokens written later go to their own positions again,
// from block F on. So the table says it all: table[P] released <=> compacted, and the first held
// block after P starts the tokens written since. Each slot also carries its original position and
// score (paged_kv_store.h), so nothing else survives between steps.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/attention/layer_plan.h"
#include "engine/attention/query_keys.h"

namespace strata::attention {

struct CompactedLayout {
  int64_t packed_end = 0;     // slots [0, packed_end) hold kept keys; 0 before the first compaction
  int64_t natural_begin = 0;  // slots from here on hold the tokens at their own positions

  // The slots a query at `pos` reads: every kept key is older than every later query.
  QueryKeys keys(int64_t pos) const { return QueryKeys{packed_end, natural_begin, pos + 1}; }
};

// The layout of a sequence whose evicting group has `table` (released entries < 0).
CompactedLayout compacted_layout(std::span<const int32_t> table, int64_t budget_blocks, int32_t block_size);

// A compaction at the end of a step: the candidate slots are [0, layout.packed_end) and
// [layout.natural_begin, full_end); `keep` of them stay, packed into slots [0, keep).
struct Compaction {
  CompactedLayout layout;       // before it
  int64_t full_end = 0;         // F * block_size
  int64_t keep = 0;             // B
  std::vector<int32_t> emptied;  // held logical blocks in [P, F), to release once the step is committed

  bool first() const { return layout.packed_end == 0; }
  int64_t candidates() const { return layout.packed_end + full_end - layout.natural_begin; }
  int64_t slot(int64_t candidate) const {
    return candidate < layout.packed_end ? candidate : layout.natural_begin + candidate - layout.packed_end;
  }
};

// Whether the step that ends at `step_end` tokens compacts: once the prompt (`prompt_end`
// tokens) is complete, whenever the sequence holds at least one full block past the budget. The
// prompt itself is never cut mid-way, so a chunked prefill equals one shot.
std::optional<Compaction> plan_compaction(std::span<const int32_t> table, int64_t budget_blocks, int32_t block_size,
                                          int64_t step_end, int64_t prompt_end);

// Whether the query at `pos` adds its attention to the keys' scores: SnapKV's last
// observation window of prompt queries, every query for H2O.
bool scores_query(const EvictionPlan& plan, int64_t pos, int64_t prompt_end);

// SnapKV's pooling: each score replaced by the maximum over the `kernel` scores centred on it
// (clipped at the ends), so neighbours of a strong key survive with it.
std::vector<float> max_pooled(std::span<const float> scores, int32_t kernel);

// The candidates that stay (indices into positions / scores, ascending), `keep` of them: the
// sink keys (position < sink_tokens), the recent ones (position >= tokens_end - recent_tokens),
// then -- SnapKV only -- the generated keys (position >= prompt_end), newest first, which no
// query scores, then the highest scores, the newer key first on equal scores. So SnapKV's prompt
// selection gives way to the generated text lowest score first, and H2O ranks every key alike.
std::vector<int32_t> select_kept(const EvictionPlan& plan, std::span<const int32_t> positions,
                                 std::span<const float> scores, int64_t keep, int64_t tokens_end, int64_t prompt_end);

// One (layer, KV head)'s choice at compaction `c`, from its candidates' positions and scores in
// candidate order: select_kept's candidates, `scores` becoming what they keep (SnapKV's max-pooled
// at a sequence's first compaction). The CPU model compacts by it; the CUDA kernel
// (choose_kept_slots) follows the same rule and is tested against it.
std::vector<int32_t> choose_kept(const EvictionPlan& plan, const Compaction& c, std::span<const int32_t> positions,
                                 std::vector<float>& scores, int64_t tokens_end, int64_t prompt_end);

}  // namespace strata::attention
