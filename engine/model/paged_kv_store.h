// The memory behind one cache group of the paged KV cache on the CPU: for each of the group's
// layers, K and V of n_blocks blocks of block_size tokens, fp16, laid out
// [layer][block][token in block][kv_head][head_dim]; for the layers that score pages
// (block_topk), each block's key bounds too, [layer][block][min, max][kv_head][head_dim].
// kvcache/ decides which block ids a sequence owns; this store only holds their bytes. Layers
// are the group's, numbered from 0. An evicting group's store also keeps, per slot and KV head,
// the original position of the key there and its score (attention/eviction.h): compaction moves
// keys, and their metadata moves with them, so no per-sequence state lives outside the blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/cpu/ops.h"

namespace strata::model {

// The key bounds of one layer's blocks: elementwise min and max of a block's keys as stored.
struct KeyBoundsView {
  const uint16_t* base;
  int64_t token_elements;  // n_kv_heads * head_dim

  const uint16_t* min(int32_t block) const { return base + 2 * block * token_elements; }
  const uint16_t* max(int32_t block) const { return min(block) + token_elements; }
};

class PagedKvStore {
 public:
  // token_elements: K (or V) values of one token in one layer (n_kv_heads * head_dim);
  // keeps_key_bounds: per layer, whether its blocks carry key bounds (empty: none do);
  // slot_metadata_heads: KV heads whose position and score each slot keeps (0: none).
  PagedKvStore(int32_t n_layers, int64_t token_elements, int32_t n_blocks, int32_t block_size,
               const std::vector<bool>& keeps_key_bounds = {}, int32_t slot_metadata_heads = 0);

  int32_t n_blocks() const { return n_blocks_; }
  int32_t block_size() const { return block_size_; }

  // Where token `pos` of a sequence with `block_table` lives in `layer`.
  uint16_t* k_at(int layer, const int32_t* block_table, int64_t pos) { return k_.get() + offset(layer, block_table, pos); }
  uint16_t* v_at(int layer, const int32_t* block_table, int64_t pos) { return v_.get() + offset(layer, block_table, pos); }

  cpu::PagedKvView k_view(int layer, const int32_t* block_table) const { return view(k_, layer, block_table); }
  cpu::PagedKvView v_view(int layer, const int32_t* block_table) const { return view(v_, layer, block_table); }

  // The original positions and scores of the keys in slot `slot` of `layer`, one per KV head
  // (stores made with slot_metadata_heads only).
  int32_t* positions_at(int layer, const int32_t* block_table, int64_t slot) {
    return positions_.get() + meta_offset(layer, block_table, slot);
  }
  float* scores_at(int layer, const int32_t* block_table, int64_t slot) {
    return scores_.get() + meta_offset(layer, block_table, slot);
  }

  // Sets block `block`'s key bounds in `layer` (one that keeps them) from its block_size keys,
  // all written: called in the step that writes the block's last slot.
  void update_key_bounds(int layer, int32_t block);
  KeyBoundsView key_bounds(int layer) const { return KeyBoundsView{bounds_of(layer, 0), token_stride_}; }

  // Copies block `src` to block `dst` in every layer, key bounds and slot metadata included
  // (copy-on-write of a shared block).
  void copy_block(int32_t src, int32_t dst);

 private:
  int64_t offset(int layer, const int32_t* block_table, int64_t pos) const {
    return layer * layer_stride_ + block_table[pos / block_size_] * block_stride_ + (pos % block_size_) * token_stride_;
  }
  int64_t meta_elements() const { return int64_t{n_layers_} * n_blocks_ * block_size_ * meta_heads_; }
  int64_t meta_offset(int layer, const int32_t* block_table, int64_t slot) const {
    return ((int64_t{layer} * n_blocks_ + block_table[slot / block_size_]) * block_size_ + slot % block_size_) *
           meta_heads_;
  }
  // The min then max of `block`'s keys in `layer`, one that keeps bounds.
  uint16_t* bounds_of(int layer, int32_t block) const {
    return bounds_.get() + bounds_slot_[static_cast<size_t>(layer)] * bounds_layer_stride_ + 2 * block * token_stride_;
  }
  cpu::PagedKvView view(const std::unique_ptr<uint16_t[]>& data, int layer, const int32_t* block_table) const {
    return cpu::PagedKvView{data.get() + layer * layer_stride_, block_table, block_size_, block_stride_, token_stride_};
  }

  int32_t n_layers_;
  int32_t n_blocks_;
  int32_t block_size_;
  int64_t token_stride_;
  int64_t block_stride_;
  int64_t layer_stride_;
  std::vector<int64_t> bounds_slot_;  // per layer: its index among the layers keeping bounds, or -1
  int64_t bounds_layer_stride_;
  int32_t meta_heads_;
  // Left uninitialized: attention reads only positions written before, so untouched blocks cost
  // no page faults until a sequence lands in them.
  std::unique_ptr<uint16_t[]> k_;
  std::unique_ptr<uint16_t[]> v_;
  std::unique_ptr<uint16_t[]> bounds_;
  std::unique_ptr<int32_t[]> positions_;  // [layer][block][token in block][kv_head]
  std::unique_ptr<float[]> scores_;       // likewise
};

}  // namespace strata::model
