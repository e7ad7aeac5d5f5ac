#include "eval/teacher_forced_task.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/runtime/solo_sequence.h"

namespace strata::eval {
namespace {

// Logits one prefill chunk may return per runner ([chunk x vocab] floats, 128 MiB), so a 262k
// vocabulary gets chunks of 128 tokens and a 49k one of 512.
constexpr int64_t kChunkLogitFloats = int64_t{1} << 25;
constexpr int32_t kMaxChunkTokens = 512;

TeacherForcedContext compare_at(const EvalTarget& reference, const EvalTarget& candidate, int32_t vocab_size,
                                std::span<const int32_t> tokens) {
  const auto context = static_cast<int32_t>(tokens.size());
  TeacherForcedContext r;
  r.context = context;
  r.decode_from = context - context / 4;
  const auto chunk = static_cast<int32_t>(std::clamp<int64_t>(kChunkLogitFloats / vocab_size, 1, kMaxChunkTokens));
  // The prompt ends at decode_from: evicting layers (SnapKV) score from its last queries.
  const auto solo = [context, &r](const EvalTarget& target) {
    runtime::SoloSequence sequence(target.model.make_runner, context,
                                   target.model.model->attention_plan().group_kinds());
    sequence.set_prompt_tokens(r.decode_from);
    return sequence;
  };
  runtime::SoloSequence ref = solo(reference), cand = solo(candidate);
  LogitComparer all(vocab_size), decoded(vocab_size);
  // Position p's logits predict tokens[p + 1].
  for (int32_t begin = 0; begin < r.decode_from; begin += chunk) {
    const auto piece = tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(std::min(chunk, r.decode_from - begin)));
    const auto ref_logits = ref.feed(piece, model::LogitsWanted::kAll);
    const auto cand_logits = cand.feed(piece, model::LogitsWanted::kAll);
    all.add_rows(ref_logits, cand_logits, tokens.subspan(static_cast<size_t>(begin) + 1, piece.size()));
  }
  for (int32_t p = r.decode_from; p + 1 < context; ++p) {
    const auto token = tokens.subspan(static_cast<size_t>(p), 1);
    const auto ref_logits = ref.feed(token);
    const auto cand_logits = cand.feed(token);
    const int32_t next = tokens[static_cast<size_t>(p) + 1];
    all.add(ref_logits, cand_logits, next);
    decoded.add(ref_logits, cand_logits, next);
  }
  r.all = all.result();
  r.decoded = decoded.result();
  return r;
}

}  // namespace

std::vector<TeacherForcedContext> run_teacher_forced(const EvalTarget& reference, const EvalTarget& candidate,
                                                     int32_t vocab_size, std::span<const int32_t> text,
                                                     std::span<const int32_t> contexts) {
  std::vector<TeacherForcedContext> results;
  for (int32_t context : contexts) {
    if (context < 2 || static_cast<size_t>(context) > text.size()) {
      throw std::invalid_argument("teacher-forced context " + std::to_string(context) + " needs a text of that many tokens (it has " +
                                  std::to_string(text.size()) + ")");
    }
    results.push_back(compare_at(reference, candidate, vocab_size, text.first(static_cast<size_t>(context))));
    spdlog::info("teacher-forced: {} tokens done", context);
  }
  return results;
}

}  // namespace strata::eval
