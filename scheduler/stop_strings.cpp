#include "scheduler/stop_strings.h"

#include <algorithm>
#include <stdexcept>

namespace strata::scheduler {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const auto& s : stops_) longest_ = std::max(longest_, s.size());
}

StopStringMatcher::Result StopStringMatcher::push(std::string_view delta) {
  if (stopped_) throw std::logic_error("StopStringMatcher: push after a stop");
  pending_ += delta;
  Result result;
  size_t earliest = std::string::npos;
  for (const auto& s : stops_) earliest = std::min(earliest, pending_.find(s));
  if (earliest != std::string::npos) {
    result.emit = pending_.substr(0, earliest);
    result.stopped = stopped_ = true;
    pending_.clear();
    return result;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (size_t len = std::min(pending_.size(), longest_ == 0 ? 0 : longest_ - 1); len > 0 && hold == 0; --len) {
    std::string_view tail = std::string_view(pending_).substr(pending_.size() - len);
    for (const auto& s : stops_) {
      if (s.size() > len && std::string_view(s).substr(0, len) == tail) {
        hold = len;
        break;
      }
    }
  }
  result.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopStringMatcher::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace strata::scheduler
