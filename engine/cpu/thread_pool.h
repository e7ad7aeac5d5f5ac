// A fixed pool of worker threads that runs one parallel-for at a time.
//
// The forward pass issues a few hundred small parallel regions per token, so workers spin
// briefly before sleeping: waking a sleeping thread costs more than most regions take. Chunks
// are handed out as threads come for them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace strata::cpu {

// ThreadPool::parallel_for's chunks a thread for items of uneven cost.
constexpr int kUnevenChunksPerThread = 4;

class ThreadPool {
 public:
  // n_threads counts the calling thread; 0 means the number of hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), in any order and on any thread;
  // every chunk but the last has `grain` items or more, and there are at most
  // chunks_per_thread x size() of them. Items of uneven cost (causal attention: later tokens
  // read more keys) want several chunks a thread, so a thread that finishes early takes more;
  // even ones one, which costs the least. Returns when every chunk has run. Not reentrant.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn, int chunks_per_thread = 1);

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  // The current job; written by the caller before generation_ is bumped.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunk_ = 0;
  std::atomic<int64_t> next_{0};  // the first item no thread has taken
};

}  // namespace strata::cpu
