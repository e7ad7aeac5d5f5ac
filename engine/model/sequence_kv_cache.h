// A contiguous fp16 K/V cache for one sequence: [layer][position][kv_head][head_dim].
// The paged KV-cache manager (kvcache/) replaces this once batching lands.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/model_config.h"

namespace strata::model {

class SequenceKvCache {
 public:
  SequenceKvCache(const ModelConfig& config, int32_t capacity)
      : capacity_(capacity),
        layer_stride_(static_cast<int64_t>(capacity) * config.n_kv_heads * config.head_dim),
        token_stride_(static_cast<int64_t>(config.n_kv_heads) * config.head_dim),
        k_(static_cast<size_t>(layer_stride_ * config.n_layers)),
        v_(static_cast<size_t>(layer_stride_ * config.n_layers)) {}

  int32_t capacity() const { return capacity_; }
  int32_t length() const { return length_; }
  void set_length(int32_t n) { length_ = n; }

  uint16_t* k(int layer, int64_t pos) { return k_.data() + layer * layer_stride_ + pos * token_stride_; }
  uint16_t* v(int layer, int64_t pos) { return v_.data() + layer * layer_stride_ + pos * token_stride_; }

 private:
  int32_t capacity_;
  int64_t layer_stride_;
  int64_t token_stride_;
  int32_t length_ = 0;
  std::vector<uint16_t> k_;
  std::vector<uint16_t> v_;
};

}  // namespace strata::model
