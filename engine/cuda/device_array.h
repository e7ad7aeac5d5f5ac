// Owning device memory of n elements of T, with host copies for setup and tests.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

#include "engine/cuda/cuda_check.h"

namespace strata::cuda {

template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t n) : n_(n) {
    if (n_ > 0) check(cudaMalloc(&data_, n_ * sizeof(T)), "cudaMalloc");
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  ~DeviceArray() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceArray(DeviceArray&& other) noexcept : data_(other.data_), n_(other.n_) {
    other.data_ = nullptr;
    other.n_ = 0;
  }
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(n_, other.n_);
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() { return data_; }
  const T* get() const { return data_; }
  size_t size() const { return n_; }

  void upload(const std::vector<T>& host) {
    if (host.size() != n_) throw std::invalid_argument("DeviceArray::upload: size mismatch");
    check(cudaMemcpy(data_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to device");
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    check(cudaMemcpy(host.data(), data_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy to host");
    return host;
  }
  // Every byte 0xff: NaN for float, bf16 and fp16, so an output a kernel forgets shows up.
  void poison() { check(cudaMemset(data_, 0xff, n_ * sizeof(T)), "cudaMemset"); }

 private:
  T* data_ = nullptr;
  size_t n_ = 0;
};

}  // namespace strata::cuda
