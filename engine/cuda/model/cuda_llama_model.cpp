#include "engine/cuda/model/cuda_llama_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/common/half.h"
#include "engine/cuda/device_array.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/ops.h"
#include "engine/gguf/dequantize.h"

namespace strata::cuda {
namespace {

DeviceArray<uint16_t> upload_bf16(const gguf::TensorInfo& t) {
  const auto values = gguf::dequantize(t);
  std::vector<uint16_t> bf16(values.size());
  for (size_t i = 0; i < values.size(); ++i) bf16[i] = f32_to_bf16(values[i]);
  return DeviceArray<uint16_t>(bf16);
}

DeviceArray<float> upload_f32(const gguf::TensorInfo& t) { return DeviceArray<float>(gguf::dequantize(t)); }

// Grows `array` to at least n elements (scratch reused across steps).
template <typename T>
T* scratch(DeviceArray<T>& array, size_t n) {
  if (array.size() < n) array = DeviceArray<T>(n);
  return array.get();
}

template <typename T>
const T* upload(DeviceArray<T>& array, const std::vector<T>& host, cudaStream_t stream) {
  T* device = scratch(array, host.size());
  check(cudaMemcpyAsync(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, stream), "upload");
  return device;
}

}  // namespace

struct CudaLlamaModel::State {
  struct Layer {
    DeviceArray<float> attn_norm, ffn_norm;
    DeviceArray<uint16_t> wq, wk, wv, wo, w_gate, w_up, w_down;
  };

  model::ModelConfig config;
  int32_t n_blocks = 0, block_size = 0;
  DeviceArray<uint16_t> token_embd, output;  // output empty when tied
  DeviceArray<float> output_norm;
  std::vector<Layer> layers;
  std::vector<DeviceArray<uint16_t>> k_cache, v_cache;  // per layer, [blocks x block_size x kv_heads x head_dim] fp16
  Gemm gemm;
  cudaStream_t stream = nullptr;

  // Scratch, grown to the largest batch seen.
  DeviceArray<float> x, proj, q, k, v, gate, up, logits;
  DeviceArray<uint16_t> h, attn, act, out_rows;
  DeviceArray<int32_t> tokens, positions, slots, token_sequence, token_keys, tables;
};

CudaLlamaModel::CudaLlamaModel(const gguf::GgufFile& file, int32_t n_blocks, int32_t block_size)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.config = model::ModelConfig::from_gguf(file);
  if (s.config.architecture != "llama") {
    // Gemma 3's block (QK-norm, post-norms, GeGLU, sliding windows) runs on the CPU only so far.
    throw gguf::FormatError("'" + file.path() + "': the CUDA model runs the llama architecture only, not '" +
                            s.config.architecture + "' (use --device cpu)");
  }
  s.n_blocks = n_blocks;
  s.block_size = block_size;
  const auto& c = s.config;
  check(cudaStreamCreate(&s.stream), "cudaStreamCreate");
  s.token_embd = upload_bf16(file.tensor("token_embd.weight"));
  if (!c.tied_embeddings) s.output = upload_bf16(file.tensor("output.weight"));
  s.output_norm = upload_f32(file.tensor("output_norm.weight"));
  const size_t kv_elements = static_cast<size_t>(n_blocks) * block_size * c.n_kv_heads * c.head_dim;
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    State::Layer l;
    l.attn_norm = upload_f32(file.tensor(p + "attn_norm.weight"));
    l.ffn_norm = upload_f32(file.tensor(p + "ffn_norm.weight"));
    l.wq = upload_bf16(file.tensor(p + "attn_q.weight"));
    l.wk = upload_bf16(file.tensor(p + "attn_k.weight"));
    l.wv = upload_bf16(file.tensor(p + "attn_v.weight"));
    l.wo = upload_bf16(file.tensor(p + "attn_output.weight"));
    l.w_gate = upload_bf16(file.tensor(p + "ffn_gate.weight"));
    l.w_up = upload_bf16(file.tensor(p + "ffn_up.weight"));
    l.w_down = upload_bf16(file.tensor(p + "ffn_down.weight"));
    s.layers.push_back(std::move(l));
    s.k_cache.emplace_back(kv_elements);
    s.v_cache.emplace_back(kv_elements);
  }
}

CudaLlamaModel::~CudaLlamaModel() {
  if (state_ && state_->stream != nullptr) cudaStreamDestroy(state_->stream);
}

const model::ModelConfig& CudaLlamaModel::config() const { return state_->config; }
int32_t CudaLlamaModel::n_blocks() const { return state_->n_blocks; }
int32_t CudaLlamaModel::block_size() const { return state_->block_size; }

void CudaLlamaModel::copy_kv_block(int32_t src, int32_t dst) {
  State& s = *state_;
  const size_t block = static_cast<size_t>(s.block_size) * s.config.n_kv_heads * s.config.head_dim;
  for (auto* caches : {&s.k_cache, &s.v_cache}) {
    for (auto& layer : *caches) {
      check(cudaMemcpyAsync(layer.get() + dst * block, layer.get() + src * block, block * sizeof(uint16_t),
                            cudaMemcpyDeviceToDevice, s.stream),
            "copy_kv_block");
    }
  }
}

std::vector<float> CudaLlamaModel::forward(const model::ForwardBatch& batch) {
  State& s = *state_;
  const auto& c = s.config;
  const model::FlatBatch flat = model::flatten(batch, c.context_length, c.vocab_size, s.block_size);
  const int n = static_cast<int>(flat.tokens.size());
  const int d = c.n_embd, q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;

  // Host-side plan: cache rows, key counts and the padded block tables.
  size_t max_blocks = 1;
  for (const auto& seq : batch) max_blocks = std::max(max_blocks, seq.block_table.size());
  std::vector<int32_t> tables(batch.size() * max_blocks, 0), slots(n), keys(n);
  for (size_t i = 0; i < batch.size(); ++i) std::copy(batch[i].block_table.begin(), batch[i].block_table.end(), tables.begin() + static_cast<std::ptrdiff_t>(i * max_blocks));
  for (int t = 0; t < n; ++t) {
    const int32_t pos = flat.positions[static_cast<size_t>(t)];
    const int32_t block = batch[static_cast<size_t>(flat.sequence[static_cast<size_t>(t)])].block_table[static_cast<size_t>(pos / s.block_size)];
    if (block < 0 || block >= s.n_blocks) throw std::invalid_argument("forward: block id " + std::to_string(block) + " is out of range");
    slots[static_cast<size_t>(t)] = block * s.block_size + pos % s.block_size;
    keys[static_cast<size_t>(t)] = pos + 1;
  }
  const auto* d_tokens = upload(s.tokens, flat.tokens, s.stream);
  const auto* d_positions = upload(s.positions, flat.positions, s.stream);
  const auto* d_slots = upload(s.slots, slots, s.stream);
  const auto* d_sequence = upload(s.token_sequence, flat.sequence, s.stream);
  const auto* d_keys = upload(s.token_keys, keys, s.stream);
  const auto* d_tables = upload(s.tables, tables, s.stream);

  float* x = scratch(s.x, static_cast<size_t>(n) * d);
  float* proj = scratch(s.proj, static_cast<size_t>(n) * d);
  uint16_t* h = scratch(s.h, static_cast<size_t>(n) * d);
  float* q = scratch(s.q, static_cast<size_t>(n) * q_dim);
  float* k = scratch(s.k, static_cast<size_t>(n) * kv_dim);
  float* v = scratch(s.v, static_cast<size_t>(n) * kv_dim);
  uint16_t* attn = scratch(s.attn, static_cast<size_t>(n) * q_dim);
  float* gate = scratch(s.gate, static_cast<size_t>(n) * c.n_ff);
  float* up = scratch(s.up, static_cast<size_t>(n) * c.n_ff);
  uint16_t* act = scratch(s.act, static_cast<size_t>(n) * c.n_ff);

  embed(s.token_embd.get(), d_tokens, x, n, d, s.stream);
  const float* pending = nullptr;  // the previous block's output, added to x by the next norm
  const PagedAttentionShape attention{n, c.n_heads, c.n_kv_heads, c.head_dim, s.block_size, static_cast<int>(max_blocks),
                                      1.0f / std::sqrt(static_cast<float>(c.head_dim))};
  for (int li = 0; li < c.n_layers; ++li) {
    auto& l = s.layers[static_cast<size_t>(li)];
    rms_norm_residual(x, pending, l.attn_norm.get(), h, n, d, c.rms_eps, s.stream);
    s.gemm.linear(h, l.wq.get(), q, n, d, q_dim, s.stream);
    s.gemm.linear(h, l.wk.get(), k, n, d, kv_dim, s.stream);
    s.gemm.linear(h, l.wv.get(), v, n, d, kv_dim, s.stream);
    rope_kv_write(q, k, v, d_positions, d_slots, s.k_cache[static_cast<size_t>(li)].get(),
                  s.v_cache[static_cast<size_t>(li)].get(), {n, c.n_heads, c.n_kv_heads, c.head_dim, c.rope_dim,
                   c.layers[static_cast<size_t>(li)].rope_base},
                  s.stream);
    paged_attention(q, s.k_cache[static_cast<size_t>(li)].get(), s.v_cache[static_cast<size_t>(li)].get(), d_tables,
                    d_sequence, d_keys, attn, nullptr, attention, s.stream);
    s.gemm.linear(attn, l.wo.get(), proj, n, q_dim, d, s.stream);
    rms_norm_residual(x, proj, l.ffn_norm.get(), h, n, d, c.rms_eps, s.stream);
    s.gemm.linear(h, l.w_gate.get(), gate, n, d, c.n_ff, s.stream);
    s.gemm.linear(h, l.w_up.get(), up, n, d, c.n_ff, s.stream);
    swiglu(gate, up, act, static_cast<int64_t>(n) * c.n_ff, s.stream);
    s.gemm.linear(act, l.w_down.get(), proj, n, c.n_ff, d, s.stream);
    pending = proj;
  }
  const int n_out = static_cast<int>(flat.output_rows.size());
  if (n_out == 0) {
    check(cudaStreamSynchronize(s.stream), "forward");
    return {};
  }
  rms_norm_residual(x, pending, s.output_norm.get(), h, n, d, c.rms_eps, s.stream);
  uint16_t* rows = scratch(s.out_rows, static_cast<size_t>(n_out) * d);
  for (int i = 0; i < n_out; ++i) {
    check(cudaMemcpyAsync(rows + static_cast<size_t>(i) * d, h + flat.output_rows[static_cast<size_t>(i)] * d,
                          static_cast<size_t>(d) * sizeof(uint16_t), cudaMemcpyDeviceToDevice, s.stream),
          "gather logits rows");
  }
  float* logits = scratch(s.logits, static_cast<size_t>(n_out) * c.vocab_size);
  s.gemm.linear(rows, c.tied_embeddings ? s.token_embd.get() : s.output.get(), logits, n_out, d, c.vocab_size, s.stream);
  std::vector<float> host(static_cast<size_t>(n_out) * c.vocab_size);
  check(cudaMemcpyAsync(host.data(), logits, host.size() * sizeof(float), cudaMemcpyDeviceToHost, s.stream), "download logits");
  check(cudaStreamSynchronize(s.stream), "forward");
  return host;
}

}  // namespace strata::cuda
