// Every block a step reads must still be in the cache: a window group may have released the
// blocks its window left, an evicting group those its compactions emptied, never one a query of
// the step reads. Both devices check a step against this before running it.
#pragma once

#include <cstdint>

#include "engine/attention/attention_plan.h"
#include "engine/model/forward_batch.h"

namespace strata::model {

// Throws std::invalid_argument naming the group and the block when a query of `batch` would read
// a block its table marks released (-1).
void check_reads_are_cached(const ForwardBatch& batch, const attention::AttentionPlan& plan, int32_t block_size);

}  // namespace strata::model
