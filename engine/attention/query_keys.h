// The keys one query reads, as every softmax backend's kernel takes them: [0, sink_end) and
// [window_begin, end). Device-neutral, so the CPU and CUDA kernels share the mask's definition.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace strata::attention {

// Keys [begin, end) of one sequence; a query reads an ascending list of disjoint ones.
struct KeyRange {
  int64_t begin = 0;
  int64_t end = 0;
};

struct QueryKeys {
  int64_t sink_end = 0;      // <= window_begin
  int64_t window_begin = 0;  // <= end
  int64_t end = 0;           // one past the query's own position

  bool contains(int64_t key) const { return key < sink_end || (key >= window_begin && key < end); }
  std::array<KeyRange, 2> ranges() const { return {KeyRange{0, sink_end}, KeyRange{window_begin, end}}; }
};

// A query at `pos` that reads the first `sinks` keys and the last `window` (0 = all) keys.
inline QueryKeys query_keys(int64_t pos, int64_t sinks, int64_t window) {
  const int64_t end = pos + 1;
  const int64_t begin = window > 0 ? std::max<int64_t>(0, end - window) : 0;
  return QueryKeys{std::min(sinks, begin), begin, end};  // sinks inside the window are window keys
}

}  // namespace strata::attention
