#include "server/http/inflight_requests.h"

namespace strata::http {

void InflightRequests::begin() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++count_;
}

void InflightRequests::accepted(uint64_t request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.insert(request_id);
}

void InflightRequests::end(std::optional<uint64_t> request_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  --count_;
  if (request_id) ids_.erase(*request_id);
}

size_t InflightRequests::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

std::vector<uint64_t> InflightRequests::accepted_ids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {ids_.begin(), ids_.end()};
}

}  // namespace strata::http
