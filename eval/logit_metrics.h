// How far a candidate's next-token distributions are from the reference's, position by position
// (teacher-forced): top-1 agreement, KL(reference || candidate) over the whole vocabulary, and
// each one's perplexity of the actual next tokens. Everything in double.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace strata::eval {

// log softmax(logits), computed in double.
std::vector<double> log_softmax(std::span<const float> logits);

// KL(p || q) = sum_i p_i (log p_i - log q_i) from the two log-probability vectors.
double kl_divergence(std::span<const double> log_p, std::span<const double> log_q);

// The index of the largest logit; ties go to the lower index (as greedy sampling picks).
int32_t argmax(std::span<const float> logits);

struct LogitComparison {
  int64_t positions = 0;
  double top1_agreement = 0.0;  // share of positions where both argmaxes are the same token
  double mean_kl = 0.0;         // mean KL(reference || candidate), nats
  double reference_perplexity = 0.0;
  double candidate_perplexity = 0.0;
};

class LogitComparer {
 public:
  explicit LogitComparer(int32_t vocab_size) : vocab_(vocab_size) {}

  // One position each: rows of `vocab_size` logits and the token that actually came next.
  void add(std::span<const float> reference, std::span<const float> candidate, int32_t next_token);
  // `rows` consecutive positions from [rows x vocab] logits, next_tokens[i] following row i.
  void add_rows(std::span<const float> reference, std::span<const float> candidate, std::span<const int32_t> next_tokens);

  LogitComparison result() const;

 private:
  int32_t vocab_;
  int64_t positions_ = 0;
  int64_t agreements_ = 0;
  double kl_sum_ = 0.0;
  double reference_nll_sum_ = 0.0;
  double candidate_nll_sum_ = 0.0;
};

}  // namespace strata::eval
