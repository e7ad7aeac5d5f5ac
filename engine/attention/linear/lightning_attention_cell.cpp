#include "engine/attention/linear/lightning_attention_cell.h"

#include <algorithm>
#include <stdexcept>

#include "engine/attention/linear/parallel_tasks.h"

namespace strata::attention::linear {

LightningAttentionCell::LightningAttentionCell(LightningShape shape, const float* slopes)
    : shape_(shape), slopes_(slopes) {
  if (shape.n_heads < 1 || shape.d_k < 1 || shape.d_v < 1 || shape.block_size < 1) {
    throw std::invalid_argument("LightningAttention: heads, head dims and block size must be positive");
  }
  if (slopes == nullptr) throw std::invalid_argument("LightningAttention: missing slopes");
}

void LightningAttentionCell::run(const LinearBatchPlan& plan, const LightningStep& step, const StateSlots& slots,
                                 cpu::ThreadPool* pool) const {
  const LightningShape& s = shape_;
  if (slots.slot_floats < s.slot_floats()) throw std::invalid_argument("LightningAttention: state slots too small");
  const int64_t head_floats = static_cast<int64_t>(s.d_k) * s.d_v;
  const int64_t out_stride = static_cast<int64_t>(s.n_heads) * s.d_v;
  run_tasks(static_cast<int64_t>(plan.sequences.size()) * s.n_heads, pool, [&](int64_t task) {
    const LinearSequencePlan& seq = plan.sequences[task / s.n_heads];
    const int32_t h = static_cast<int32_t>(task % s.n_heads);
    float* state = slots.slot(seq.slot) + h * head_floats;
    if (seq.fresh) std::fill(state, state + head_floats, 0.0f);
    HeadSequence head;
    head.n_tokens = seq.n_tokens;
    head.d_k = s.d_k;
    head.d_v = s.d_v;
    head.q = step.q.head(h, seq.first_row);
    head.k = step.k.head(h, seq.first_row);
    head.v = step.v.head(h, seq.first_row);
    head.out = {step.out + seq.first_row * out_stride + static_cast<int64_t>(h) * s.d_v, out_stride};
    if (seq.n_tokens == 1) {
      lightning_recurrent(head, slopes_[h], state);
    } else {
      lightning_chunked(head, slopes_[h], s.block_size, state);
    }
  });
}

}  // namespace strata::attention::linear
