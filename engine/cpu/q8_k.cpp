#include "engine/cpu/q8_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace strata::cpu {

void quantize_row_q8_k(const float* x, BlockQ8K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQ8KBlock; ++b) {
    const float* xb = x + b * kQ8KBlock;
    BlockQ8K& out = y[b];
    float amax = 0.0f, extreme = 0.0f;
    for (int j = 0; j < kQ8KBlock; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        extreme = xb[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&out, 0, sizeof out);
      continue;
    }
    const float iscale = -127.0f / extreme;
    for (int j = 0; j < kQ8KBlock; ++j) {
      out.qs[j] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(iscale * xb[j])));
    }
    for (int g = 0; g < kQ8KBlock / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += out.qs[g * 16 + j];
      out.bsums[g] = static_cast<int16_t>(sum);
    }
    out.d = 1.0f / iscale;
  }
}

}  // namespace strata::cpu
