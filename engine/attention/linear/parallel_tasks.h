// Runs independent tasks (a sequence, or a (sequence, head) pair) on the thread pool when one
// is given, else in order on the calling thread.
#pragma once

#include <cstdint>

#include "engine/cpu/thread_pool.h"

namespace strata::attention::linear {

template <typename Task>
void run_tasks(int64_t n, cpu::ThreadPool* pool, const Task& task) {
  if (pool == nullptr || n < 2) {
    for (int64_t i = 0; i < n; ++i) task(i);
    return;
  }
  pool->parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) task(i);
  });
}

}  // namespace strata::attention::linear
