// Teacher-forced comparison on a long text: at each context length C the text's first C tokens
// go through the reference's and the candidate's runners side by side, the first 3/4 as prefill
// chunks and the last 1/4 one token per step (the decode path, where decode-time methods act),
// and every position's next-token distributions are compared (logit_metrics.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "eval/eval_target.h"
#include "eval/logit_metrics.h"

namespace strata::eval {

struct TeacherForcedContext {
  int32_t context = 0;
  int32_t decode_from = 0;  // positions from here on were fed one token per step
  LogitComparison all;      // every position that has a next token: [0, context - 1)
  LogitComparison decoded;  // [decode_from, context - 1)
};

// `text` holds the tokens (BOS first where the model wants one), at least the largest context.
std::vector<TeacherForcedContext> run_teacher_forced(const EvalTarget& reference, const EvalTarget& candidate,
                                                     int32_t vocab_size, std::span<const int32_t> text,
                                                     std::span<const int32_t> contexts);

}  // namespace strata::eval
