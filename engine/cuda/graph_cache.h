// CUDA graphs of recorded step sequences, by shape key: the first launch of a key captures what
// `record` enqueues, later launches replay it. Replays read their inputs from the addresses
// captured, so the owner refills those buffers before each launch and clears the cache whenever
// it reallocates one.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <unordered_map>

#include "engine/cuda/cuda_check.h"

namespace strata::cuda {

class GraphCache {
 public:
  GraphCache() = default;
  ~GraphCache() { clear(); }
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;

  void launch(uint64_t key, cudaStream_t stream, const std::function<void()>& record) {
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      cudaGraph_t graph = nullptr;
      check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
      try {
        record();
      } catch (...) {
        cudaStreamEndCapture(stream, &graph);
        if (graph != nullptr) cudaGraphDestroy(graph);
        throw;
      }
      check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
      cudaGraphExec_t exec = nullptr;
      const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      check(status, "cudaGraphInstantiate");
      it = graphs_.emplace(key, exec).first;
    }
    check(cudaGraphLaunch(it->second, stream), "cudaGraphLaunch");
  }

  void clear() {
    for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
    graphs_.clear();
  }

  size_t size() const { return graphs_.size(); }

 private:
  std::unordered_map<uint64_t, cudaGraphExec_t> graphs_;
};

}  // namespace strata::cuda
