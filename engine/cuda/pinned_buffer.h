// Page-locked host memory: copies from and to it are asynchronous and run at full PCIe speed.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "engine/cuda/cuda_check.h"

namespace strata::cuda {

template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (data_ != nullptr) cudaFreeHost(data_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  // Room for at least n elements; the contents are lost when it grows.
  T* reserve(size_t n) {
    if (n > n_) {
      if (data_ != nullptr) cudaFreeHost(data_);
      data_ = nullptr;
      check(cudaMallocHost(reinterpret_cast<void**>(&data_), n * sizeof(T)), "cudaMallocHost");
      n_ = n;
    }
    return data_;
  }
  T* get() { return data_; }

 private:
  T* data_ = nullptr;
  size_t n_ = 0;
};

}  // namespace strata::cuda
