#include "engine/sampling/sample_row.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace strata::sampling {
namespace {

int32_t argmax(std::span<const float> v) { return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

int32_t pick(std::span<const float> v, const SamplingRow& row) {
  if (row.temperature == 0.0f) return argmax(v);
  const float best = v[static_cast<size_t>(argmax(v))];
  // Candidates best first; the filters only ever cut the tail.
  std::vector<std::pair<uint64_t, int32_t>> candidates(v.size());
  for (size_t i = 0; i < v.size(); ++i) candidates[i] = {candidate_key(v[i], static_cast<int32_t>(i)), static_cast<int32_t>(i)};
  size_t keep = v.size();
  if (row.top_k > 0) keep = std::min(keep, static_cast<size_t>(row.top_k));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  candidates.resize(keep);
  std::vector<uint64_t> mass(keep);
  uint64_t total = 0;
  for (size_t i = 0; i < keep; ++i) {
    total += mass[i] = mass_units(relative_probability(v[static_cast<size_t>(candidates[i].second)], best, row.temperature));
  }
  if (row.top_p < 1.0f) {
    const double target = static_cast<double>(row.top_p) * static_cast<double>(total);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += mass[i];
      if (static_cast<double>(cumulative) >= target) {
        keep = i + 1;
        break;
      }
    }
  }
  if (row.min_p > 0.0f) {
    size_t cut = 1;
    while (cut < keep && relative_probability(v[static_cast<size_t>(candidates[cut].second)], best, row.temperature) >=
                             static_cast<double>(row.min_p)) {
      ++cut;
    }
    keep = cut;
  }
  // The draw, walked in id order over the kept candidates.
  std::vector<std::pair<int32_t, uint64_t>> kept(keep);
  uint64_t kept_total = 0;
  for (size_t i = 0; i < keep; ++i) {
    kept[i] = {candidates[i].second, mass[i]};
    kept_total += mass[i];
  }
  std::sort(kept.begin(), kept.end());
  const uint64_t target = draw_below(row.seed, row.draw, kept_total);
  uint64_t cumulative = 0;
  for (const auto& [token, m] : kept) {
    cumulative += m;
    if (cumulative > target) return token;
  }
  return kept.back().first;  // unreachable: target < kept_total
}

}  // namespace

SampledToken sample_row(std::span<const float> raw, const SamplingRow& row, std::vector<float>& work) {
  work.assign(raw.begin(), raw.end());
  for (const auto& a : row.adjustments) {
    if (a.token < 0 || static_cast<size_t>(a.token) >= raw.size()) {
      throw std::out_of_range("sampler: token id " + std::to_string(a.token) + " is outside the vocabulary");
    }
    work[static_cast<size_t>(a.token)] = adjusted_logit(raw[static_cast<size_t>(a.token)], a, row.penalties);
  }
  SampledToken out;
  out.token = pick(work, row);
  if (row.top_logprobs >= 0) {
    auto [chosen, top] = logprobs(raw, out.token, row.top_logprobs);
    out.chosen = chosen;
    out.top = std::move(top);
  }
  return out;
}

std::vector<SampledToken> sample_rows(std::span<const float> logits, size_t vocab, std::span<const SamplingRow> rows) {
  std::vector<SampledToken> out;
  out.reserve(rows.size());
  std::vector<float> work;
  for (const auto& row : rows) {
    const size_t offset = static_cast<size_t>(row.logits_row) * vocab;
    if (offset + vocab > logits.size()) throw std::out_of_range("sample_rows: logits row out of range");
    out.push_back(sample_row(logits.subspan(offset, vocab), row, work));
  }
  return out;
}

}  // namespace strata::sampling
