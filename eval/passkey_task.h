// Passkey retrieval over a grid of context lengths x needle depths: each prompt greedy-decoded
// through the scheduler on the reference's and on the candidate's runners; a sample is correct
// when the answer contains the key. A cell judges the candidate only where the reference passes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/runtime/loaded_model.h"
#include "eval/eval_target.h"
#include "eval/proportion.h"

namespace strata::eval {

struct PasskeyOptions {
  std::vector<int32_t> contexts;  // prompt + answer tokens of each cell's samples
  std::vector<double> depths;     // needle positions in the haystack, 0..1
  int32_t samples = 20;           // keys per cell
  uint64_t seed = 0;              // the keys of (seed, context, depth index, sample)
};

// Tokens decoded after "The pass key is": room for the five digits and some punctuation.
inline constexpr int32_t kPasskeyAnswerTokens = 10;
// A cell judges the candidate only where the reference is at least this accurate
// (seed_methods.md: a 135M model may not retrieve reliably even dense).
inline constexpr double kReferencePassAccuracy = 0.9;

struct PasskeyCell {
  int32_t context = 0;
  double depth = 0.0;
  int32_t prompt_tokens = 0;    // the longest of the cell's prompts
  double needle_depth = 0.0;    // measured in tokens (PasskeyPrompt::needle_depth), first sample
  Proportion reference, candidate;

  bool judged() const { return reference.rate() >= kReferencePassAccuracy; }
};

struct PasskeyResult {
  bool chat_template = false;  // prompts in the model's chat template (else raw text)
  std::vector<PasskeyCell> cells;
};

// The judged cells pooled: how many, and the samples each side got right in them.
struct PasskeySummary {
  int32_t judged_cells = 0;
  int32_t reference_correct = 0, candidate_correct = 0;

  // candidate / reference correct; 0 when no cell is judged (see judged_cells).
  double ratio() const { return reference_correct == 0 ? 0.0 : static_cast<double>(candidate_correct) / reference_correct; }
};

PasskeySummary summarize(const PasskeyResult& r);

// The key of one sample: five digits from (seed, context, depth index, sample), so a cell's keys
// do not depend on the rest of the grid.
int32_t passkey_key(uint64_t seed, int32_t context, size_t depth_index, int32_t sample);

// Prompts built with the reference's tokenizer (the candidate is the same file).
PasskeyResult run_passkey(const EvalTarget& reference, const EvalTarget& candidate, const PasskeyOptions& options);

}  // namespace strata::eval
