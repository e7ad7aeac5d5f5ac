// Stop strings over a stream of text deltas: text that might be the start of a stop string is
// held back until it is decided, and the stop string itself is never emitted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace strata::scheduler {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);

  struct Result {
    std::string emit;  // text that is now safe to stream
    bool stopped = false;
  };
  // Adds `delta` (complete UTF-8). On a match, emits the text before the earliest stop string
  // and reports stopped; further pushes are an error.
  Result push(std::string_view delta);
  // The held-back text, when the stream ends for another reason.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace strata::scheduler
