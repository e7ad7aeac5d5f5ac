#include "eval/logit_metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace strata::eval {

std::vector<double> log_softmax(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("log_softmax of no logits");
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
  const double log_norm = max + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_norm;
  return out;
}

double kl_divergence(std::span<const double> log_p, std::span<const double> log_q) {
  if (log_p.size() != log_q.size()) throw std::invalid_argument("kl_divergence of vectors of different sizes");
  double kl = 0.0;
  for (size_t i = 0; i < log_p.size(); ++i) {
    // A token p gives no mass contributes nothing, whatever q says (0 log 0 = 0).
    if (std::isinf(log_p[i])) continue;
    kl += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  }
  return kl;
}

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void LogitComparer::add(std::span<const float> reference, std::span<const float> candidate, int32_t next_token) {
  const auto vocab = static_cast<size_t>(vocab_);
  if (reference.size() != vocab || candidate.size() != vocab) throw std::invalid_argument("LogitComparer: a row is not one vocabulary long");
  if (next_token < 0 || next_token >= vocab_) throw std::invalid_argument("LogitComparer: next token outside the vocabulary");
  const auto log_reference = log_softmax(reference);
  const auto log_candidate = log_softmax(candidate);
  ++positions_;
  agreements_ += argmax(reference) == argmax(candidate);
  kl_sum_ += kl_divergence(log_reference, log_candidate);
  reference_nll_sum_ -= log_reference[static_cast<size_t>(next_token)];
  candidate_nll_sum_ -= log_candidate[static_cast<size_t>(next_token)];
}

void LogitComparer::add_rows(std::span<const float> reference, std::span<const float> candidate,
                             std::span<const int32_t> next_tokens) {
  const auto vocab = static_cast<size_t>(vocab_);
  if (reference.size() != next_tokens.size() * vocab || candidate.size() != reference.size()) {
    throw std::invalid_argument("LogitComparer: logits do not match the number of positions");
  }
  for (size_t i = 0; i < next_tokens.size(); ++i) {
    add(reference.subspan(i * vocab, vocab), candidate.subspan(i * vocab, vocab), next_tokens[i]);
  }
}

LogitComparison LogitComparer::result() const {
  LogitComparison r;
  r.positions = positions_;
  if (positions_ == 0) return r;
  const auto n = static_cast<double>(positions_);
  r.top1_agreement = static_cast<double>(agreements_) / n;
  r.mean_kl = kl_sum_ / n;
  r.reference_perplexity = std::exp(reference_nll_sum_ / n);
  r.candidate_perplexity = std::exp(candidate_nll_sum_ / n);
  return r;
}

}  // namespace strata::eval
