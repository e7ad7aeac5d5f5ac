// A success count out of a number of trials, with its 95% Wilson score interval: accuracies of
// a few dozen samples are reported with their uncertainty (seed_methods.md, honesty rules).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace strata::eval {

struct Interval {
  double low = 0.0, high = 0.0;
};

struct Proportion {
  int32_t successes = 0;
  int32_t trials = 0;

  double rate() const { return trials == 0 ? 0.0 : static_cast<double>(successes) / trials; }

  // Wilson's interval at 95% (z = 1.96); [0, 1] when there are no trials.
  Interval wilson95() const {
    if (trials == 0) return {0.0, 1.0};
    constexpr double z = 1.959963984540054;
    const double n = trials, p = rate(), z2 = z * z;
    const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
    const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    return {std::max(0.0, center - half), std::min(1.0, center + half)};
  }
};

}  // namespace strata::eval
