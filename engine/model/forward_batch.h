// One forward step over a ragged batch: prefill chunks and decode tokens of many sequences.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace strata::model {

enum class LogitsWanted : uint8_t {
  kNone,  // a prefill chunk that is not the prompt's last
  kLast,  // the logits of the sequence's last token in this step (sampling)
  kAll,   // one row per token (teacher-forced evaluation)
};

struct BatchSequence {
  std::span<const int32_t> tokens;       // the tokens this step computes (at least one)
  int32_t start_pos = 0;                 // position of tokens[0]: the tokens already cached
  std::span<const int32_t> block_table;  // blocks covering positions [0, start_pos + tokens.size())
  LogitsWanted logits = LogitsWanted::kLast;
};

using ForwardBatch = std::vector<BatchSequence>;

}  // namespace strata::model
