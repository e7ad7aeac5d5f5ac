// Memory read bandwidth of this machine: AVX2 sums over 512 MiB with 1 and 2 threads, best of 5.
// Build and run: g++ -O2 -mavx2 -pthread tools/read_bandwidth.cpp -o /tmp/read_bandwidth && /tmp/read_bandwidth
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

int main() {
  const size_t bytes = size_t{512} << 20;
  std::vector<uint8_t> buffer(bytes, 1);
  for (int threads : {1, 2}) {
    double best = 0.0;
    for (int rep = 0; rep < 5; ++rep) {
      std::vector<long long> sinks(static_cast<size_t>(threads));
      std::vector<std::thread> workers;
      const auto start = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          const auto* p = reinterpret_cast<const __m256i*>(buffer.data() + bytes / threads * t);
          __m256i acc = _mm256_setzero_si256();
          for (size_t i = 0; i < bytes / threads / 32; ++i) acc = _mm256_add_epi64(acc, _mm256_loadu_si256(p + i));
          sinks[static_cast<size_t>(t)] = _mm256_extract_epi64(acc, 0);  // keeps the loop alive
        });
      }
      for (auto& w : workers) w.join();
      best = std::max(best, bytes / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("read bandwidth, %d thread(s): %.1f GB/s\n", threads, best / 1e9);
  }
}
