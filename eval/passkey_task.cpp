#include "eval/passkey_task.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "engine/common/mix64.h"
#include "eval/passkey_prompt.h"
#include "scheduler/scheduler.h"

namespace strata::eval {
namespace {

// Sequences run at once: on a CPU batching adds little, and the KV memory stays small.
constexpr int32_t kConcurrentSequences = 4;

// Each prompt greedy-decoded for kPasskeyAnswerTokens tokens through a scheduler on `target`;
// returns the texts of the answers.
std::vector<std::string> greedy_answers(const EvalTarget& target, const std::vector<PasskeyPrompt>& prompts) {
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.tokens.size());
  scheduler::SchedulerConfig config;
  config.max_num_seqs = kConcurrentSequences;
  config.max_waiting = static_cast<int32_t>(prompts.size());
  const auto blocks_per_sequence = static_cast<int32_t>((longest + kPasskeyAnswerTokens) / static_cast<size_t>(config.block_size) + 1);
  config.num_kv_blocks = kConcurrentSequences * blocks_per_sequence;
  scheduler::Scheduler s(target.model, config);

  scheduler::GenerationParams params;
  params.sampling.temperature = 0.0f;
  params.max_tokens = kPasskeyAnswerTokens;
  std::vector<std::string> answers(prompts.size());
  size_t finished = 0;
  std::string error;  // a failed step's, thrown after it (a sink must not throw into the scheduler)
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto sink = [&answers, &finished, &error, i](const scheduler::SequenceEvent& e) {
      if (e.finish == scheduler::FinishReason::kError) error = e.error;
      answers[i] += e.text;
      finished += e.finish.has_value();
    };
    const auto submitted = s.submit({prompts[i].tokens, params}, sink);
    if (submitted.status != scheduler::SubmitStatus::kAccepted) throw std::runtime_error("passkey prompt refused: " + submitted.reason);
  }
  size_t reported = 0;
  while (s.has_work()) {
    s.step();
    if (!error.empty()) throw std::runtime_error("passkey generation failed (" + target.name + "): " + error);
    if (finished >= reported + std::max<size_t>(1, prompts.size() / 10) || finished == prompts.size()) {
      reported = finished;
      spdlog::info("passkey ({}): {}/{} prompts", target.name, finished, prompts.size());
    }
  }
  return answers;
}

}  // namespace

int32_t passkey_key(uint64_t seed, int32_t context, size_t depth_index, int32_t sample) {
  uint64_t h = mix64(seed);
  h = mix64(h ^ static_cast<uint64_t>(context));
  h = mix64(h ^ depth_index);
  h = mix64(h ^ static_cast<uint64_t>(sample));
  return 10000 + static_cast<int32_t>(h % 90000);
}

PasskeySummary summarize(const PasskeyResult& r) {
  PasskeySummary s;
  for (const auto& c : r.cells) {
    if (!c.judged()) continue;
    ++s.judged_cells;
    s.reference_correct += c.reference.successes;
    s.candidate_correct += c.candidate.successes;
  }
  return s;
}

PasskeyResult run_passkey(const EvalTarget& reference, const EvalTarget& candidate, const PasskeyOptions& options) {
  const PasskeyPromptBuilder builder(reference.model);
  PasskeyResult result;
  result.chat_template = builder.uses_chat_template();
  std::vector<PasskeyPrompt> prompts;
  for (int32_t context : options.contexts) {
    for (size_t d = 0; d < options.depths.size(); ++d) {
      PasskeyCell cell;
      cell.context = context;
      cell.depth = options.depths[d];
      for (int32_t sample = 0; sample < options.samples; ++sample) {
        prompts.push_back(builder.build(context - kPasskeyAnswerTokens, cell.depth, passkey_key(options.seed, context, d, sample)));
        cell.prompt_tokens = std::max(cell.prompt_tokens, static_cast<int32_t>(prompts.back().tokens.size()));
      }
      cell.needle_depth = prompts[prompts.size() - static_cast<size_t>(options.samples)].needle_depth();
      result.cells.push_back(cell);
    }
  }
  const auto reference_answers = greedy_answers(reference, prompts);
  const auto candidate_answers = greedy_answers(candidate, prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto& cell = result.cells[i / static_cast<size_t>(options.samples)];
    const std::string& key = prompts[i].key;
    ++cell.reference.trials;
    ++cell.candidate.trials;
    cell.reference.successes += reference_answers[i].find(key) != std::string::npos;
    cell.candidate.successes += candidate_answers[i].find(key) != std::string::npos;
  }
  return result;
}

}  // namespace strata::eval
