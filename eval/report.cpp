#include "eval/report.h"

#include <cstdio>

namespace strata::eval {
namespace {

nlohmann::ordered_json proportion_json(const Proportion& p) {
  const auto ci = p.wilson95();
  return {{"correct", p.successes}, {"samples", p.trials}, {"accuracy", p.rate()}, {"wilson95", {ci.low, ci.high}}};
}

nlohmann::ordered_json comparison_json(const LogitComparison& c) {
  return {{"positions", c.positions},
          {"top1_agreement", c.top1_agreement},
          {"mean_kl", c.mean_kl},
          {"reference_perplexity", c.reference_perplexity},
          {"candidate_perplexity", c.candidate_perplexity}};
}

nlohmann::ordered_json point_json(const MemorySpeedPoint& p) {
  return {{"peak_kv_blocks", p.peak_kv_blocks},
          {"peak_kv_bytes", p.peak_kv_bytes},
          {"prefill_seconds", p.prefill_seconds},
          {"decode_step_ms_median", p.decode_step_ms_median}};
}

std::string cell_accuracy(const Proportion& p) {
  const auto ci = p.wilson95();
  char text[64];
  std::snprintf(text, sizeof text, "%d/%d [%.0f-%.0f%%]", p.successes, p.trials, 100 * ci.low, 100 * ci.high);
  return text;
}

double mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

void print_passkey(const PasskeyResult& r, const std::string& reference, const std::string& candidate) {
  std::printf("\nPasskey retrieval (%s; accuracy with its 95%% Wilson interval; a cell is judged only where %s reaches %.0f%%)\n\n",
              r.chat_template ? "chat template" : "raw text", reference.c_str(), 100 * kReferencePassAccuracy);
  std::printf("| context | depth | prompt tokens | needle at | reference: %s | candidate: %s | ratio |\n", reference.c_str(),
              candidate.c_str());
  std::printf("|---:|---:|---:|---:|---|---|---:|\n");
  for (const auto& c : r.cells) {
    char ratio[48] = "not judged: reference fails";
    if (c.judged()) {
      std::snprintf(ratio, sizeof ratio, "%.3f", c.candidate.rate() / c.reference.rate());
    }
    std::printf("| %d | %.2f | %d | %.2f | %s | %s | %s |\n", c.context, c.depth, c.prompt_tokens, c.needle_depth,
                cell_accuracy(c.reference).c_str(), cell_accuracy(c.candidate).c_str(), ratio);
  }
  const auto summary = summarize(r);
  std::printf("\njudged cells: %d of %zu", summary.judged_cells, r.cells.size());
  if (summary.judged_cells > 0) {
    std::printf("; over them reference (%s) %d, candidate (%s) %d correct: ratio %.3f", reference.c_str(), summary.reference_correct, candidate.c_str(),
                summary.candidate_correct, summary.ratio());
  }
  std::printf("\n");
  std::fflush(stdout);
}

nlohmann::ordered_json passkey_json(const PasskeyResult& r, uint64_t seed) {
  nlohmann::ordered_json cells = nlohmann::ordered_json::array();
  for (const auto& c : r.cells) {
    nlohmann::ordered_json cell = {{"context", c.context},
                                   {"depth", c.depth},
                                   {"prompt_tokens", c.prompt_tokens},
                                   {"needle_depth_tokens", c.needle_depth},
                                   {"reference", proportion_json(c.reference)},
                                   {"candidate", proportion_json(c.candidate)},
                                   {"judged", c.judged()},
                                   {"ratio", nullptr}};
    if (c.judged()) cell["ratio"] = c.candidate.rate() / c.reference.rate();
    cells.push_back(cell);
  }
  const auto s = summarize(r);
  nlohmann::ordered_json summary = {{"judged_cells", s.judged_cells},
                                    {"cells", r.cells.size()},
                                    {"reference_correct", s.reference_correct},
                                    {"candidate_correct", s.candidate_correct},
                                    {"ratio", nullptr}};
  if (s.judged_cells > 0) summary["ratio"] = s.ratio();
  return {{"chat_template", r.chat_template},
          {"seed", seed},
          {"answer_tokens", kPasskeyAnswerTokens},
          {"reference_pass_accuracy", kReferencePassAccuracy},
          {"cells", cells},
          {"summary", summary}};
}

void print_teacher_forced(const std::vector<TeacherForcedContext>& r, const std::string& reference, const std::string& candidate) {
  std::printf("\nTeacher-forced on the text (every position; 'decoded' = the last quarter, fed one token per step)\n\n");
  std::printf("| context | positions | top-1 agreement | mean KL | ppl reference: %s | ppl candidate: %s | decoded agreement | decoded KL |\n",
              reference.c_str(), candidate.c_str());
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& c : r) {
    std::printf("| %d | %lld | %.4f | %.3g | %.3f | %.3f | %.4f | %.3g |\n", c.context, static_cast<long long>(c.all.positions),
                c.all.top1_agreement, c.all.mean_kl, c.all.reference_perplexity, c.all.candidate_perplexity,
                c.decoded.top1_agreement, c.decoded.mean_kl);
  }
  std::fflush(stdout);
}

nlohmann::ordered_json teacher_forced_json(const std::vector<TeacherForcedContext>& r, const std::string& text_path,
                                           size_t text_tokens) {
  nlohmann::ordered_json contexts = nlohmann::ordered_json::array();
  for (const auto& c : r) {
    contexts.push_back({{"context", c.context}, {"decode_from", c.decode_from}, {"all", comparison_json(c.all)},
                        {"decoded", comparison_json(c.decoded)}});
  }
  return {{"text", text_path}, {"text_tokens", text_tokens}, {"contexts", contexts}};
}

void print_memory_speed(const std::vector<MemorySpeedContext>& r, const std::string& reference, const std::string& candidate) {
  std::printf("\nMemory and speed (one sequence; peak KV from the scheduler's accounting; decode = median of %d steps)\n\n",
              kTimedDecodeSteps);
  std::printf("| context | dense KV MiB | peak KV MiB reference: %s | candidate: %s | decode ms reference: %s | candidate: %s | time ratio |\n",
              reference.c_str(), candidate.c_str(), reference.c_str(), candidate.c_str());
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& c : r) {
    std::printf("| %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.3f |\n", c.context, mib(c.dense_kv_bytes), mib(c.reference.peak_kv_bytes),
                mib(c.candidate.peak_kv_bytes), c.reference.decode_step_ms_median, c.candidate.decode_step_ms_median,
                c.candidate.decode_step_ms_median / c.reference.decode_step_ms_median);
  }
  std::fflush(stdout);
}

nlohmann::ordered_json memory_speed_json(const std::vector<MemorySpeedContext>& r, int64_t kv_bytes_per_token,
                                         int32_t max_num_batched_tokens) {
  nlohmann::ordered_json contexts = nlohmann::ordered_json::array();
  for (const auto& c : r) {
    contexts.push_back({{"context", c.context},
                        {"dense_kv_bytes", c.dense_kv_bytes},
                        {"reference", point_json(c.reference)},
                        {"candidate", point_json(c.candidate)}});
  }
  return {{"kv_bytes_per_token", kv_bytes_per_token},
          {"timed_decode_steps", kTimedDecodeSteps},
          {"max_num_batched_tokens", max_num_batched_tokens},
          {"contexts", contexts}};
}

}  // namespace strata::eval
