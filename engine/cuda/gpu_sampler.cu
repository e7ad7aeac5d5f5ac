#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/cuda/gpu_sampler.h"
#include "engine/cuda/ops.h"

namespace strata::cuda {
namespace {

template <typename T>
T* at_least(DeviceArray<T>& array, size_t n) {
  if (array.size() < n) array = DeviceArray<T>(std::max(n, array.size() * 2));
  return array.get();
}

// The device's address of page-locked host memory (the same pointer under unified addressing).
template <typename T>
T* on_device(T* host) {
  void* device = nullptr;
  check(cudaHostGetDevicePointer(&device, host, 0), "cudaHostGetDevicePointer");
  return static_cast<T*>(device);
}

}  // namespace

std::vector<sampling::SampledToken> GpuSampler::sample(const float* logits, int n_logits_rows, int vocab,
                                                       std::span<const sampling::SamplingRow> rows, cudaStream_t stream) {
  if (rows.empty()) return {};
  size_t n_adjustments = 0;
  for (const auto& row : rows) n_adjustments += row.adjustments.size();
  SampleRowArgs* args = rows_host_.reserve(rows.size());
  sampling::TokenAdjustment* adjustments = adjustments_host_.reserve(std::max<size_t>(1, n_adjustments));
  size_t next = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    if (row.logits_row < 0 || row.logits_row >= n_logits_rows) throw std::out_of_range("sample: logits row out of range");
    const size_t begin = next;
    for (const auto& a : row.adjustments) {
      if (a.token < 0 || a.token >= vocab) {
        throw std::out_of_range("sampler: token id " + std::to_string(a.token) + " is outside the vocabulary");
      }
      adjustments[next++] = a;
    }
    args[i] = SampleRowArgs{row.logits_row, row.temperature, row.top_k, row.top_p, row.min_p, row.penalties, row.seed, row.draw,
                            std::min(row.top_logprobs, kMaxTopLogprobs), static_cast<int32_t>(begin),
                            static_cast<int32_t>(row.adjustments.size())};
  }
  SampledOut* picks = picks_host_.reserve(rows.size());
  // Scratch rows only where some row adjusts its logits (the kernel reads the others in place).
  float* work = n_adjustments > 0 ? at_least(work_, rows.size() * static_cast<size_t>(vocab)) : nullptr;
  // The kernel reads the rows and adjustments from, and writes the picks to, the page-locked
  // buffers themselves: no copy before or after a kernel of a few microseconds. The buffers are
  // free to rewrite here because the previous call waited for its kernel.
  sample_rows(logits, vocab, on_device(args), static_cast<int>(rows.size()), on_device(adjustments), work, on_device(picks),
              stream);
  check(cudaStreamSynchronize(stream), "sample");
  std::vector<sampling::SampledToken> out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    out[i].token = picks[i].token;
    if (rows[i].top_logprobs < 0) continue;
    out[i].chosen = {picks[i].token, picks[i].chosen_logprob};
    for (int j = 0; j < std::min({rows[i].top_logprobs, kMaxTopLogprobs, vocab}); ++j) {
      out[i].top.push_back({picks[i].top_ids[j], picks[i].top_logprobs[j]});
    }
  }
  return out;
}

}  // namespace strata::cuda
