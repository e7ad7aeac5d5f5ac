// The sampler (engine/sampling/sampler.h) against expectations computed here: parameter
// validation, greedy decoding, logit bias, the three penalties, top-k / top-p / min-p filters,
// temperature and seeding. Distribution tests draw many seeded samples and compare the empirical
// frequencies with probabilities computed independently in double precision, within 5 binomial
// standard deviations (deterministic for a fixed seed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/sampling/sampler.h"

namespace strata::sampling {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

// softmax(logits / temperature) in double.
std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  double max_l = -std::numeric_limits<double>::infinity();
  for (float l : logits) max_l = std::max(max_l, static_cast<double>(l) / temperature);
  std::vector<double> p(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) total += p[i] = std::exp(static_cast<double>(logits[i]) / temperature - max_l);
  for (double& x : p) x /= total;
  return p;
}

// Logits whose softmax is `probs` (up to a constant).
std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

// `probs` restricted to `allowed` and renormalized.
std::vector<double> restrict_to(const std::vector<double>& probs, const std::vector<bool>& allowed) {
  double total = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) total += allowed[i] ? probs[i] : 0.0;
  std::vector<double> out(probs.size());
  for (size_t i = 0; i < probs.size(); ++i) out[i] = allowed[i] ? probs[i] / total : 0.0;
  return out;
}

// Draws n tokens from one sampler (fresh copy of the logits each time) and counts them.
std::vector<int64_t> draw_counts(const SamplingParams& params, const std::vector<float>& logits, int n) {
  Sampler sampler(params, {});
  std::vector<int64_t> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    int32_t t = sampler.sample(l);
    EXPECT_GE(t, 0);
    EXPECT_LT(t, static_cast<int32_t>(logits.size()));
    if (t >= 0 && t < static_cast<int32_t>(logits.size())) ++counts[static_cast<size_t>(t)];
  }
  return counts;
}

// Every count within 5 binomial standard deviations of n * p; p == 0 means never drawn.
void expect_frequencies(const std::vector<int64_t>& counts, const std::vector<double>& expected, int n) {
  ASSERT_EQ(counts.size(), expected.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " must never be drawn";
      continue;
    }
    const double mean = n * expected[i];
    const double sigma = std::sqrt(n * expected[i] * (1.0 - expected[i]));
    EXPECT_NEAR(static_cast<double>(counts[i]), mean, 5.0 * sigma + 1.0)
        << "token " << i << ": expected probability " << expected[i] << ", observed " << counts[i] << " / " << n;
  }
}

SamplingParams seeded(uint64_t seed) {
  SamplingParams p;
  p.seed = seed;
  return p;
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

// ---------------------------------------------------------------------------------------------
// SamplingParams::validate

TEST(SamplerValidate, DefaultsAndBoundaryValuesAreValid) {
  EXPECT_EQ(SamplingParams{}.validate(), "");
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  EXPECT_EQ(p.validate(), "");
  p.temperature = 100.0f;
  p.top_k = 1;
  p.top_p = 1e-6f;
  p.min_p = 1.0f;
  p.repetition_penalty = 1e-3f;
  p.presence_penalty = 2.0f;
  p.frequency_penalty = -2.0f;
  p.seed = 0;
  EXPECT_EQ(p.validate(), "");
}

TEST(SamplerValidate, EachOutOfRangeFieldIsNamed) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* field;
    float v;
    void (*set)(SamplingParams&, float);
  };
  auto temperature = [](SamplingParams& p, float v) { p.temperature = v; };
  auto top_p = [](SamplingParams& p, float v) { p.top_p = v; };
  auto min_p = [](SamplingParams& p, float v) { p.min_p = v; };
  auto rep = [](SamplingParams& p, float v) { p.repetition_penalty = v; };
  auto presence = [](SamplingParams& p, float v) { p.presence_penalty = v; };
  auto frequency = [](SamplingParams& p, float v) { p.frequency_penalty = v; };
  const std::vector<Case> cases = {
      {"temperature", -0.01f, temperature}, {"temperature", nan, temperature},  {"temperature", inf, temperature},
      {"temperature", -inf, temperature},   {"top_p", 0.0f, top_p},             {"top_p", -0.5f, top_p},
      {"top_p", 1.0001f, top_p},            {"top_p", nan, top_p},              {"min_p", -0.001f, min_p},
      {"min_p", 1.001f, min_p},             {"min_p", nan, min_p},              {"repetition_penalty", 0.0f, rep},
      {"repetition_penalty", -1.0f, rep},   {"repetition_penalty", nan, rep},   {"repetition_penalty", inf, rep},
      {"presence_penalty", -2.01f, presence}, {"presence_penalty", 2.01f, presence}, {"presence_penalty", nan, presence},
      {"frequency_penalty", -2.01f, frequency}, {"frequency_penalty", 2.01f, frequency},
      {"frequency_penalty", nan, frequency},
  };
  for (const Case& c : cases) {
    SamplingParams p;
    c.set(p, c.v);
    std::string msg = p.validate();
    EXPECT_NE(msg.find(c.field), std::string::npos) << c.field << " = " << c.v << " gave \"" << msg << "\"";
  }
  for (int32_t k : {-1, -100, std::numeric_limits<int32_t>::min()}) {
    SamplingParams p;
    p.top_k = k;
    EXPECT_NE(p.validate().find("top_k"), std::string::npos) << "top_k = " << k << " gave \"" << p.validate() << "\"";
  }
}

TEST(SamplerValidate, NamesTheFirstInvalidField) {
  SamplingParams p;
  p.top_p = 0.0f;
  p.frequency_penalty = 5.0f;
  std::string msg = p.validate();
  EXPECT_NE(msg.find("top_p"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("frequency_penalty"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
// Greedy decoding

TEST(SamplerGreedy, TemperatureZeroIsArgmax) {
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int trial = 0; trial < 200; ++trial) {
    Sampler sampler(greedy(), {});  // one per vocabulary size: ids it generated must stay in range
    std::vector<float> logits(1 + trial % 97);
    for (float& l : logits) l = normal(rng);
    size_t expected = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
      if (logits[i] > logits[expected]) expected = i;
    }
    std::vector<float> copy = logits;
    EXPECT_EQ(sampler.sample(copy), static_cast<int32_t>(expected)) << "trial " << trial;
  }
}

TEST(SamplerGreedy, TiesGoToTheLowestId) {
  Sampler sampler(greedy(), {});
  std::vector<float> logits = {1.0f, 5.0f, -2.0f, 5.0f, 5.0f};
  EXPECT_EQ(sampler.sample(logits), 1);
  std::vector<float> flat(64, 0.25f);
  EXPECT_EQ(sampler.sample(flat), 0);
  std::vector<float> neg = {-3.0f, -1.0f, -1.0f};
  EXPECT_EQ(sampler.sample(neg), 1);
}

TEST(SamplerGreedy, TopKOneTiesGoToTheLowestIdWhenSampling) {
  SamplingParams p = seeded(3);
  p.top_k = 1;
  Sampler sampler(p, {});
  for (int i = 0; i < 100; ++i) {
    std::vector<float> logits = {0.0f, 2.0f, 1.0f, 2.0f};
    EXPECT_EQ(sampler.sample(logits), 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Penalties (temperature 0, so the penalized logits decide the argmax; sample() also leaves the
// penalized logits in its argument, which is checked against values computed here)

TEST(SamplerPenalties, RepetitionPenaltyDividesPositiveAndMultipliesNegativePromptLogits) {
  SamplingParams p = greedy();
  p.repetition_penalty = 2.0f;
  const std::vector<int32_t> prompt = {1, 3, 3};
  Sampler sampler(p, prompt);
  // Token 1 (prompt, positive) would win unpenalized: 3 / 2 = 1.5 < 2.
  std::vector<float> logits = {2.0f, 3.0f, -5.0f, -0.6f, -1.0f};
  EXPECT_EQ(sampler.sample(logits), 0);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);
  EXPECT_FLOAT_EQ(logits[1], 1.5f);
  EXPECT_FLOAT_EQ(logits[2], -5.0f);
  EXPECT_FLOAT_EQ(logits[3], -1.2f);  // repeated in the prompt, still penalized once
  EXPECT_FLOAT_EQ(logits[4], -1.0f);

  // Negative logits: token 3 (prompt) would win unpenalized: -0.6 * 2 = -1.2 < -1.0. Token 0
  // is now a generated token, penalized too: its -0.9 becomes -1.8.
  std::vector<float> neg = {-0.9f, -8.0f, -7.0f, -0.6f, -1.0f};
  EXPECT_EQ(sampler.sample(neg), 4);
  EXPECT_FLOAT_EQ(neg[0], -1.8f);
  EXPECT_FLOAT_EQ(neg[1], -16.0f);
  EXPECT_FLOAT_EQ(neg[3], -1.2f);
  EXPECT_FLOAT_EQ(neg[4], -1.0f);
}

TEST(SamplerPenalties, RepetitionPenaltyCoversGeneratedTokensOnceRegardlessOfCount) {
  SamplingParams p = greedy();
  p.repetition_penalty = 1.25f;
  Sampler sampler(p, {});
  // Generate token 2 three times (no penalty applies the first time, the margin is large).
  for (int i = 0; i < 3; ++i) {
    std::vector<float> logits = {0.0f, 0.0f, 10.0f, 0.0f};
    ASSERT_EQ(sampler.sample(logits), 2);
    EXPECT_FLOAT_EQ(logits[2], i == 0 ? 10.0f : 8.0f);
  }
  // 2.4 / 1.25 = 1.92 < 2.0: the unseen token 0 wins; penalty below 1 would reward.
  std::vector<float> logits = {2.0f, 0.0f, 2.4f, 0.0f};
  EXPECT_EQ(sampler.sample(logits), 0);
  EXPECT_FLOAT_EQ(logits[2], 1.92f);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);  // token 0 is only penalized from the next call on

  SamplingParams reward = greedy();
  reward.repetition_penalty = 0.5f;
  Sampler rewarding(reward, std::vector<int32_t>{3});
  std::vector<float> l2 = {1.5f, 0.0f, 0.0f, 1.0f};
  EXPECT_EQ(rewarding.sample(l2), 3);  // 1.0 / 0.5 = 2.0 > 1.5
  EXPECT_FLOAT_EQ(l2[3], 2.0f);
}

TEST(SamplerPenalties, NeutralRepetitionPenaltyLeavesLogitsUntouched) {
  Sampler sampler(greedy(), std::vector<int32_t>{0, 1, 2});
  std::vector<float> logits = {1.0f, -2.0f, 3.0f};
  EXPECT_EQ(sampler.sample(logits), 2);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -2.0f, 3.0f}));
}

TEST(SamplerPenalties, PresenceAndFrequencyApplyToGeneratedTokensOnly) {
  SamplingParams p = greedy();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  const std::vector<int32_t> prompt = {0};
  Sampler sampler(p, prompt);

  // Token 0 is in the prompt only: no presence/frequency penalty.
  std::vector<float> l0 = {1.0f, 0.9f, 0.0f, 0.0f};
  EXPECT_EQ(sampler.sample(l0), 0);
  EXPECT_FLOAT_EQ(l0[0], 1.0f);

  // Generated so far: {0:1}. Token 0 now pays 0.5 + 0.25 = 0.75: 1.0 - 0.75 = 0.25 < 0.9.
  std::vector<float> l1 = {1.0f, 0.9f, 0.0f, 0.0f};
  EXPECT_EQ(sampler.sample(l1), 1);
  EXPECT_FLOAT_EQ(l1[0], 0.25f);
  EXPECT_FLOAT_EQ(l1[1], 0.9f);

  // Generate token 2 three more times with a margin no penalty can overcome.
  for (int i = 0; i < 3; ++i) {
    std::vector<float> l = {0.0f, 0.0f, 20.0f, 0.0f};
    ASSERT_EQ(sampler.sample(l), 2);
    // No penalty before the first occurrence, then 0.5 + 0.25 * count.
    EXPECT_FLOAT_EQ(l[2], i == 0 ? 20.0f : 20.0f - 0.5f - 0.25f * static_cast<float>(i));
  }
  // Counts: {0:1, 1:1, 2:3}. Penalties: token 0 and 1 pay 0.75, token 2 pays 0.5 + 0.75 = 1.25,
  // token 3 nothing.
  std::vector<float> l2 = {2.0f, 2.0f, 2.4f, 1.0f};
  EXPECT_EQ(sampler.sample(l2), 0);  // 1.25, 1.25, 1.15, 1.0: the tie goes to id 0
  EXPECT_FLOAT_EQ(l2[0], 1.25f);
  EXPECT_FLOAT_EQ(l2[1], 1.25f);
  EXPECT_FLOAT_EQ(l2[2], 1.15f);
  EXPECT_FLOAT_EQ(l2[3], 1.0f);

  // Counts: {0:2, 1:1, 2:3}. Frequency decides between tokens 0 and 1: 2.0 - 1.0 vs 1.9 - 0.75.
  std::vector<float> l3 = {2.0f, 1.9f, 0.0f, 0.0f};
  EXPECT_EQ(sampler.sample(l3), 1);
  EXPECT_FLOAT_EQ(l3[0], 1.0f);
  EXPECT_FLOAT_EQ(l3[1], 1.15f);
}

TEST(SamplerPenalties, FrequencyAloneScalesWithTheCount) {
  SamplingParams p = greedy();
  p.frequency_penalty = 0.3f;
  Sampler sampler(p, {});
  // Token 1 keeps winning while 5 - 0.3 * count > 4.0, i.e. for counts 0..3; then token 0.
  std::vector<int32_t> got;
  for (int i = 0; i < 6; ++i) {
    std::vector<float> l = {4.0f, 5.0f};
    got.push_back(sampler.sample(l));
  }
  // counts before each call: 1:0,1,2,3 -> 5.0, 4.7, 4.4, 4.1 (all > 4); then 1:4 -> 3.8 < 4.0;
  // then 0:1 -> 3.7 vs 1:4 -> 3.8.
  EXPECT_EQ(got, (std::vector<int32_t>{1, 1, 1, 1, 0, 1}));
}

TEST(SamplerPenalties, NegativePresencePenaltyRewardsGeneratedTokens) {
  SamplingParams p = greedy();
  p.presence_penalty = -1.0f;
  Sampler sampler(p, {});
  std::vector<float> a = {0.0f, 0.5f};
  ASSERT_EQ(sampler.sample(a), 1);
  std::vector<float> b = {1.2f, 0.5f};  // token 1 gets +1.0 -> 1.5 > 1.2
  EXPECT_EQ(sampler.sample(b), 1);
  EXPECT_FLOAT_EQ(b[1], 1.5f);
}

TEST(SamplerPenalties, RepetitionPenaltyIsAppliedBeforePresencePenalty) {
  SamplingParams p = greedy();
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 1.0f;
  Sampler sampler(p, {});
  std::vector<float> a = {0.0f, 3.0f};
  ASSERT_EQ(sampler.sample(a), 1);
  std::vector<float> b = {0.0f, 3.0f};
  sampler.sample(b);
  EXPECT_FLOAT_EQ(b[1], 3.0f / 2.0f - 1.0f);  // not (3 - 1) / 2 = 1.0
}

// ---------------------------------------------------------------------------------------------
// Logit bias (OpenAI's logit_bias: added to the logits before the penalties)

TEST(SamplerLogitBias, BiasIsAddedToTheLogitsAndDecidesTheArgmax) {
  SamplingParams p = greedy();
  p.logit_bias = {{2, 1.5f}, {0, -0.5f}};
  Sampler sampler(p, {});
  std::vector<float> logits = {1.0f, 2.0f, 1.0f};
  EXPECT_EQ(sampler.sample(logits), 2);  // 1.0 + 1.5 = 2.5 > 2.0
  EXPECT_EQ(logits, (std::vector<float>{0.5f, 2.0f, 2.5f}));
}

TEST(SamplerLogitBias, MinusOneHundredBansATokenWhenSampling) {
  SamplingParams p = seeded(11);
  p.logit_bias = {{0, -100.0f}};
  Sampler sampler(p, {});
  for (int i = 0; i < 2000; ++i) {
    std::vector<float> logits = {5.0f, 0.0f, 0.0f};  // token 0 would be drawn ~99% of the time
    EXPECT_NE(sampler.sample(logits), 0);
  }
}

TEST(SamplerLogitBias, BiasComesBeforeTheRepetitionPenalty) {
  SamplingParams p = greedy();
  p.repetition_penalty = 2.0f;
  p.logit_bias = {{1, 2.0f}};
  Sampler sampler(p, std::vector<int32_t>{1});
  std::vector<float> logits = {1.6f, 1.0f};
  EXPECT_EQ(sampler.sample(logits), 0);
  EXPECT_FLOAT_EQ(logits[1], (1.0f + 2.0f) / 2.0f);  // not 1.0 / 2 + 2 = 2.5
}

TEST(SamplerLogitBias, ValidateNamesOutOfRangeBiasesAndNegativeIds) {
  for (float bias : {-100.01f, 100.01f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    SamplingParams p;
    p.logit_bias = {{3, bias}};
    EXPECT_NE(p.validate().find("logit_bias"), std::string::npos) << bias << " gave \"" << p.validate() << "\"";
  }
  SamplingParams negative_id;
  negative_id.logit_bias = {{-1, 1.0f}};
  EXPECT_NE(negative_id.validate().find("logit_bias"), std::string::npos) << negative_id.validate();
  SamplingParams edges;
  edges.logit_bias = {{0, -100.0f}, {7, 100.0f}};
  EXPECT_EQ(edges.validate(), "");
}

TEST(SamplerLogitBias, AnIdOutsideTheVocabularyThrows) {
  SamplingParams p = greedy();
  p.logit_bias = {{4, 1.0f}};
  Sampler sampler(p, {});
  std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f};
  EXPECT_THROW(sampler.sample(logits), std::out_of_range);
}

// ---------------------------------------------------------------------------------------------
// Filters

TEST(SamplerTopK, TopKOneAlwaysReturnsTheArgmax) {
  std::mt19937 rng(777);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SamplingParams p = seeded(seed);
    p.top_k = 1;
    p.temperature = 1.5f;
    Sampler sampler(p, {});
    for (int i = 0; i < 50; ++i) {
      std::vector<float> logits(50);
      for (float& l : logits) l = normal(rng);
      int32_t expected = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      EXPECT_EQ(sampler.sample(logits), expected);
    }
  }
}

TEST(SamplerTopK, NeverReturnsATokenOutsideTheTopKAndMatchesRenormalizedFrequencies) {
  std::mt19937 rng(4242);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(40);
  for (float& l : logits) l = normal(rng);
  const std::vector<double> probs = softmax(logits);
  std::vector<size_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  for (int k : {2, 5, 13}) {
    SCOPED_TRACE("top_k = " + std::to_string(k));
    std::vector<bool> allowed(logits.size(), false);
    for (int i = 0; i < k; ++i) allowed[order[static_cast<size_t>(i)]] = true;
    SamplingParams p = seeded(static_cast<uint64_t>(k));
    p.top_k = k;
    const int n = 20000;
    expect_frequencies(draw_counts(p, logits, n), restrict_to(probs, allowed), n);
  }
  // top_k above the vocabulary size keeps everything.
  SamplingParams p = seeded(99);
  p.top_k = 1000;
  const int n = 20000;
  expect_frequencies(draw_counts(p, logits, n), probs, n);
}

TEST(SamplerTopP, KeepsTheSmallestNucleusAndRenormalizes) {
  const std::vector<double> probs = {0.5, 0.3, 0.15, 0.05};
  // Shuffled ids so the filter must sort: token ids 2, 0, 3, 1 carry 0.5, 0.3, 0.15, 0.05.
  const std::vector<size_t> id = {2, 0, 3, 1};
  std::vector<double> p_by_id(4);
  for (size_t i = 0; i < 4; ++i) p_by_id[id[i]] = probs[i];
  const std::vector<float> logits = logits_for(p_by_id);
  const int n = 20000;
  // Thresholds away from the cumulative sums 0.5, 0.8, 0.95 (0.8 itself is a boundary: the float
  // 0.8f is slightly above the double sum 0.5 + 0.3, so it keeps the third token too).
  struct Case {
    float top_p;
    int kept;
  };
  for (Case c : {Case{0.3f, 1}, Case{0.75f, 2}, Case{0.9f, 3}, Case{0.99f, 4}}) {
    SCOPED_TRACE("top_p = " + std::to_string(c.top_p));
    std::vector<bool> allowed(4, false);
    for (int i = 0; i < c.kept; ++i) allowed[id[static_cast<size_t>(i)]] = true;
    SamplingParams p = seeded(1000 + static_cast<uint64_t>(c.kept));
    p.top_p = c.top_p;
    expect_frequencies(draw_counts(p, logits, n), restrict_to(softmax(logits), allowed), n);
  }
}

TEST(SamplerMinP, TokensBelowTheThresholdAreNeverDrawn) {
  // Probabilities 0.4, 0.25, 0.15, 0.1, 0.06, 0.04; min_p 0.3 -> threshold 0.12: the first
  // three stay; min_p 0.2 -> 0.08: four stay; min_p 1 -> only the most likely.
  const std::vector<double> probs = {0.1, 0.4, 0.04, 0.25, 0.06, 0.15};
  const std::vector<float> logits = logits_for(probs);
  const std::vector<double> exact = softmax(logits);
  const int n = 20000;
  for (float min_p : {0.3f, 0.2f, 0.12f, 1.0f}) {
    SCOPED_TRACE("min_p = " + std::to_string(min_p));
    const double max_p = *std::max_element(exact.begin(), exact.end());
    std::vector<bool> allowed(probs.size());
    for (size_t i = 0; i < probs.size(); ++i) allowed[i] = exact[i] >= min_p * max_p;
    SamplingParams p = seeded(static_cast<uint64_t>(min_p * 1000));
    p.min_p = min_p;
    expect_frequencies(draw_counts(p, logits, n), restrict_to(exact, allowed), n);
  }
}

TEST(SamplerFilters, TopKTopPAndMinPCombine) {
  // Probabilities by rank: 0.35 0.25 0.2 0.1 0.05 0.05. top_k 4 keeps the first four,
  // renormalized to 0.3889 0.2778 0.2222 0.1111; top_p 0.9 keeps all four (cumulative 0.8889
  // < 0.9 after three); min_p 0.5 then drops those below 0.1944: three remain.
  const std::vector<double> probs = {0.05, 0.2, 0.35, 0.05, 0.1, 0.25};
  const std::vector<float> logits = logits_for(probs);
  SamplingParams p = seeded(5);
  p.top_k = 4;
  p.top_p = 0.9f;
  p.min_p = 0.5f;
  const int n = 20000;
  std::vector<bool> allowed = {false, true, true, false, false, true};
  expect_frequencies(draw_counts(p, logits, n), restrict_to(softmax(logits), allowed), n);
}

// ---------------------------------------------------------------------------------------------
// Temperature and seeding

TEST(SamplerTemperature, FrequenciesMatchTheTemperedSoftmax) {
  const std::vector<float> logits = {1.0f, -0.5f, 2.0f, 0.3f, -2.0f, 1.4f};
  const int n = 20000;
  for (float temperature : {2.0f, 0.5f, 1.0f}) {
    SCOPED_TRACE("temperature = " + std::to_string(temperature));
    SamplingParams p = seeded(static_cast<uint64_t>(temperature * 100));
    p.temperature = temperature;
    expect_frequencies(draw_counts(p, logits, n), softmax(logits, temperature), n);
  }
}

TEST(SamplerTemperature, DefaultParamsSampleTheFullSoftmax) {
  // The distribution test is meaningful: at temperature 2 the frequencies differ from softmax at 1
  // by far more than the tolerance for these logits.
  const std::vector<float> logits = {3.0f, 0.0f, 1.0f};
  const std::vector<double> t1 = softmax(logits, 1.0), t2 = softmax(logits, 2.0);
  const int n = 20000;
  EXPECT_GT(std::fabs(t1[0] - t2[0]) * n, 20.0 * std::sqrt(n * t1[0] * (1 - t1[0])));
  expect_frequencies(draw_counts(seeded(8), logits, n), t1, n);
}

std::vector<int32_t> draw_sequence(const SamplingParams& p, int vocab, int n) {
  Sampler sampler(p, {});
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> flat(static_cast<size_t>(vocab), 0.0f);
    out.push_back(sampler.sample(flat));
  }
  return out;
}

TEST(SamplerSeed, SameSeedSameSequenceDifferentSeedsDiffer) {
  const int vocab = 1000, n = 50;
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xffffffffffffffffull}) {
    SamplingParams p = seeded(seed);
    EXPECT_EQ(draw_sequence(p, vocab, n), draw_sequence(p, vocab, n)) << "seed " << seed;
  }
  std::set<std::vector<int32_t>> distinct;
  for (uint64_t seed = 0; seed < 10; ++seed) distinct.insert(draw_sequence(seeded(seed), vocab, n));
  EXPECT_EQ(distinct.size(), 10u);
  // Flat distribution: a seeded run uses many different tokens (not stuck on one).
  std::vector<int32_t> seq = draw_sequence(seeded(7), vocab, n);
  EXPECT_GT(std::set<int32_t>(seq.begin(), seq.end()).size(), 40u);
}

TEST(SamplerSeed, UnseededSamplersDiffer) {
  SamplingParams p;  // no seed: nondeterministic stream
  EXPECT_NE(draw_sequence(p, 1000, 50), draw_sequence(p, 1000, 50));
}

TEST(SamplerSeed, SeedFixesTheStreamWithPenaltiesAndFiltersToo) {
  SamplingParams p = seeded(31337);
  p.temperature = 0.8f;
  p.top_k = 20;
  p.top_p = 0.95f;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  auto run = [&] {
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    const std::vector<int32_t> prompt = {3, 4, 5};
    Sampler sampler(p, prompt);
    std::vector<int32_t> out;
    for (int i = 0; i < 100; ++i) {
      std::vector<float> logits(64);
      for (float& l : logits) l = normal(rng);
      out.push_back(sampler.sample(logits));
    }
    return out;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace strata::sampling
