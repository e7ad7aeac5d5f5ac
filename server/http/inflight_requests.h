// The generations the server's connections are serving, so a shutdown can wait for them and
// then cancel the rest. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <vector>

namespace strata::http {

class InflightRequests {
 public:
  // A generation starts (before the engine has answered) / was accepted / has written its last
  // byte or lost its client after its last event.
  void begin();
  void accepted(uint64_t request_id);
  void end(std::optional<uint64_t> request_id);

  size_t count() const;
  std::vector<uint64_t> accepted_ids() const;

 private:
  mutable std::mutex mutex_;
  size_t count_ = 0;
  std::unordered_set<uint64_t> ids_;
};

}  // namespace strata::http
