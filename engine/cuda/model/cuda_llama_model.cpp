#include "engine/cuda/model/cuda_llama_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/cuda/device_array.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/gpu_sampler.h"
#include "engine/cuda/graph_cache.h"
#include "engine/cuda/ops.h"
#include "engine/cuda/pinned_buffer.h"

namespace strata::cuda {
namespace {

// Decode batches are padded up to one of these sizes so a few graphs serve every batch.
constexpr int kGraphBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256};

int graph_bucket(int n) {
  for (int b : kGraphBuckets) {
    if (b >= n) return b;
  }
  return 0;  // larger batches run without a graph
}

int pow2_at_least(int n, int floor) {
  int p = floor;
  while (p < n) p *= 2;
  return p;
}

// The shape of one step as the device sees it (after padding for a graph).
struct StepShape {
  int tokens = 0;          // query tokens, padding included
  int outputs = 0;         // logits rows computed
  int table_rows = 0;      // block-table rows
  int table_width = 0;     // entries per row
  int max_keys = 0;        // keys of the token that sees the most (a bound, for a graph)
  bool all_outputs = false;  // every token is an output row, in order (no gather)

  // Offsets (int32 elements) of the inputs packed into one buffer.
  size_t positions() const { return static_cast<size_t>(tokens); }
  size_t slots() const { return 2 * static_cast<size_t>(tokens); }
  size_t token_table() const { return 3 * static_cast<size_t>(tokens); }
  size_t keys() const { return 4 * static_cast<size_t>(tokens); }
  size_t output_rows() const { return 5 * static_cast<size_t>(tokens); }
  size_t tables() const { return output_rows() + static_cast<size_t>(outputs); }
  size_t total() const { return tables() + static_cast<size_t>(table_rows) * table_width; }
};

}  // namespace

struct CudaLlamaModel::State {
  struct Layer {
    DeviceArray<float> attn_norm, ffn_norm;
    DeviceArray<uint16_t> w_qkv;      // [q | k | v] rows: one projection
    DeviceArray<uint16_t> wo;
    DeviceArray<uint16_t> w_gate_up;  // [gate | up] rows: one projection
    DeviceArray<uint16_t> w_down;
  };

  model::ModelConfig config;
  int32_t n_blocks = 0, block_size = 0;
  DeviceArray<uint16_t> token_embd, output;  // output empty when tied
  DeviceArray<float> output_norm;
  std::vector<Layer> layers;
  // Per layer, [n_blocks + 1 blocks x block_size x kv_heads x head_dim] fp16. Block n_blocks is
  // scratch: the padding rows of a graph step write and read there.
  std::vector<DeviceArray<uint16_t>> k_cache, v_cache;
  Gemm gemm;
  cudaStream_t stream = nullptr;
  GraphCache graphs;

  // Step buffers, grown to the largest step seen; growing one drops the captured graphs, which
  // hold their addresses.
  DeviceArray<int32_t> inputs;
  DeviceArray<float> x, qkv, gate_up, out_x, logits, attn_workspace;
  DeviceArray<uint16_t> h, attn, act;
  PinnedBuffer<int32_t> staging;
  cudaEvent_t staging_free = nullptr;  // the latest step's inputs have left `staging`
  int32_t last_outputs = 0;            // logits rows the latest step left in `logits`
  GpuSampler sampler;

  template <typename T>
  T* ensure(DeviceArray<T>& array, size_t n) {
    if (array.size() < n) {
      graphs.clear();
      array = DeviceArray<T>(std::max(n, array.size() * 2));
    }
    return array.get();
  }

  int32_t scratch_block() const { return n_blocks; }
};

CudaLlamaModel::CudaLlamaModel(const model::ModelConfig& config, WeightSource& weights, int32_t n_blocks,
                               int32_t block_size)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.config = config;
  // Gemma 3's block (QK-norm, post-norms, GeGLU, sliding windows) runs on the CPU only so far.
  if (config.architecture != "llama") {
    throw std::runtime_error("the CUDA model runs the llama architecture only, not '" + config.architecture + "' (use --device cpu)");
  }
  for (const auto& layer : config.layers) {
    if (layer.rope_freq_scale != 1.0f || layer.sliding_window != 0) {
      throw std::runtime_error("the CUDA model does not run scaled RoPE or sliding windows yet (use --device cpu)");
    }
  }
  s.n_blocks = n_blocks;
  s.block_size = block_size;
  const auto& c = s.config;
  const int64_t d = c.n_embd, q_dim = int64_t{c.n_heads} * c.head_dim, kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaEventCreateWithFlags(&s.staging_free, cudaEventDisableTiming), "cudaEventCreate");

  s.token_embd = DeviceArray<uint16_t>(static_cast<size_t>(c.vocab_size * d));
  weights.matrix("token_embd.weight", c.vocab_size, d, s.token_embd.get());
  if (!c.tied_embeddings) {
    s.output = DeviceArray<uint16_t>(static_cast<size_t>(c.vocab_size * d));
    weights.matrix("output.weight", c.vocab_size, d, s.output.get());
  }
  s.output_norm = DeviceArray<float>(static_cast<size_t>(d));
  weights.vector("output_norm.weight", d, s.output_norm.get());
  const size_t kv_elements = static_cast<size_t>(n_blocks + 1) * block_size * kv_dim;
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    State::Layer l;
    l.attn_norm = DeviceArray<float>(static_cast<size_t>(d));
    weights.vector(p + "attn_norm.weight", d, l.attn_norm.get());
    l.ffn_norm = DeviceArray<float>(static_cast<size_t>(d));
    weights.vector(p + "ffn_norm.weight", d, l.ffn_norm.get());
    l.w_qkv = DeviceArray<uint16_t>(static_cast<size_t>((q_dim + 2 * kv_dim) * d));
    weights.matrix(p + "attn_q.weight", q_dim, d, l.w_qkv.get());
    weights.matrix(p + "attn_k.weight", kv_dim, d, l.w_qkv.get() + q_dim * d);
    weights.matrix(p + "attn_v.weight", kv_dim, d, l.w_qkv.get() + (q_dim + kv_dim) * d);
    l.wo = DeviceArray<uint16_t>(static_cast<size_t>(d * q_dim));
    weights.matrix(p + "attn_output.weight", d, q_dim, l.wo.get());
    l.w_gate_up = DeviceArray<uint16_t>(static_cast<size_t>(2 * int64_t{c.n_ff} * d));
    weights.matrix(p + "ffn_gate.weight", c.n_ff, d, l.w_gate_up.get());
    weights.matrix(p + "ffn_up.weight", c.n_ff, d, l.w_gate_up.get() + int64_t{c.n_ff} * d);
    l.w_down = DeviceArray<uint16_t>(static_cast<size_t>(d * c.n_ff));
    weights.matrix(p + "ffn_down.weight", d, c.n_ff, l.w_down.get());
    s.layers.push_back(std::move(l));
    s.k_cache.emplace_back(kv_elements);
    s.v_cache.emplace_back(kv_elements);
  }
}

CudaLlamaModel::~CudaLlamaModel() {
  if (state_ && state_->stream != nullptr) {
    cudaStreamSynchronize(state_->stream);
    state_->graphs.clear();
    if (state_->staging_free != nullptr) cudaEventDestroy(state_->staging_free);
    cudaStreamDestroy(state_->stream);
  }
}

const model::ModelConfig& CudaLlamaModel::config() const { return state_->config; }
int32_t CudaLlamaModel::n_blocks() const { return state_->n_blocks; }
int32_t CudaLlamaModel::block_size() const { return state_->block_size; }
size_t CudaLlamaModel::captured_graphs() const { return state_->graphs.size(); }

void CudaLlamaModel::copy_kv_block(int group, int32_t src, int32_t dst) {
  State& s = *state_;
  if (group != 0) throw std::invalid_argument("copy_kv_block: the CUDA model has one cache group");
  if (src < 0 || src >= s.n_blocks || dst < 0 || dst >= s.n_blocks) throw std::invalid_argument("copy_kv_block: block id out of range");
  const size_t block = static_cast<size_t>(s.block_size) * s.config.n_kv_heads * s.config.head_dim;
  for (auto* caches : {&s.k_cache, &s.v_cache}) {
    for (auto& layer : *caches) {
      check(cudaMemcpyAsync(layer.get() + dst * block, layer.get() + src * block, block * sizeof(uint16_t),
                            cudaMemcpyDeviceToDevice, s.stream),
            "copy_kv_block");
    }
  }
}

void CudaLlamaModel::step(const model::ForwardBatch& batch) {
  State& s = *state_;
  const auto& c = s.config;
  const model::FlatBatch flat = model::flatten(batch, c.context_length, c.vocab_size, s.block_size, 1);
  const int n = static_cast<int>(flat.tokens.size());
  const int n_out = static_cast<int>(flat.output_rows.size());
  const int d = c.n_embd, q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;

  // Host-side plan: the step's shape, padded to a graph bucket for decode steps.
  int max_blocks = 1;
  bool decode = true;
  for (const auto& seq : batch) {
    max_blocks = std::max(max_blocks, static_cast<int>(seq.block_tables[0].size()));
    decode = decode && seq.tokens.size() == 1 && seq.logits == model::LogitsWanted::kLast;
  }
  const int bucket = decode ? graph_bucket(n) : 0;
  StepShape step;
  step.tokens = bucket > 0 ? bucket : n;
  step.outputs = bucket > 0 ? bucket : n_out;
  step.table_rows = bucket > 0 ? bucket : static_cast<int>(batch.size());
  step.table_width = bucket > 0 ? pow2_at_least(max_blocks, 8) : max_blocks;
  step.all_outputs = decode;
  step.max_keys = bucket > 0 ? step.table_width * s.block_size : flat.longest;

  check(cudaEventSynchronize(s.staging_free), "wait for the previous step's inputs");
  int32_t* in = s.staging.reserve(step.total());
  std::fill(in, in + step.total(), 0);
  for (int t = 0; t < step.tokens; ++t) {
    if (t < n) {
      const auto ut = static_cast<size_t>(t);
      const int32_t pos = flat.positions[ut];
      const int32_t block = batch[static_cast<size_t>(flat.sequence[ut])].block_tables[0][static_cast<size_t>(pos / s.block_size)];
      in[t] = flat.tokens[ut];
      in[step.positions() + ut] = pos;
      in[step.slots() + ut] = block * s.block_size + pos % s.block_size;
      in[step.token_table() + ut] = flat.sequence[ut];
      in[step.keys() + ut] = pos + 1;
    } else {  // padding: one key, in the scratch block, through a table row of its own
      in[step.slots() + static_cast<size_t>(t)] = s.scratch_block() * s.block_size;
      in[step.token_table() + static_cast<size_t>(t)] = t;
      in[step.keys() + static_cast<size_t>(t)] = 1;
    }
  }
  for (int i = 0; i < step.outputs; ++i) {
    in[step.output_rows() + static_cast<size_t>(i)] = i < n_out ? static_cast<int32_t>(flat.output_rows[static_cast<size_t>(i)]) : i;
  }
  for (int r = 0; r < step.table_rows; ++r) {
    int32_t* row = in + step.tables() + static_cast<size_t>(r) * step.table_width;
    std::fill(row, row + step.table_width, s.scratch_block());
    if (r >= static_cast<int>(batch.size())) continue;
    const auto& table = batch[static_cast<size_t>(r)].block_tables[0];
    for (size_t i = 0; i < table.size(); ++i) {
      if (table[i] < 0 || table[i] >= s.n_blocks) throw std::invalid_argument("forward: block id " + std::to_string(table[i]) + " is out of range");
      row[i] = table[i];
    }
  }

  // Buffers first (growing one drops the graphs), then the inputs.
  const auto nt = static_cast<size_t>(step.tokens);
  const PagedAttentionShape attention{step.tokens,  c.n_heads,         c.n_kv_heads,    c.head_dim,
                                      s.block_size, q_dim + 2 * kv_dim, step.table_width, step.max_keys,
                                      c.attention_scale};
  int32_t* inputs = s.ensure(s.inputs, step.total());
  float* x = s.ensure(s.x, nt * d);
  float* qkv = s.ensure(s.qkv, nt * (q_dim + 2 * kv_dim));
  float* gate_up = s.ensure(s.gate_up, nt * 2 * c.n_ff);
  uint16_t* h = s.ensure(s.h, nt * d);
  uint16_t* attn = s.ensure(s.attn, nt * q_dim);
  uint16_t* act = s.ensure(s.act, nt * c.n_ff);
  float* out_x = s.ensure(s.out_x, std::max<size_t>(1, static_cast<size_t>(step.outputs) * d));
  float* logits = s.ensure(s.logits, std::max<size_t>(1, static_cast<size_t>(step.outputs) * c.vocab_size));
  float* workspace = s.ensure(s.attn_workspace, std::max<size_t>(1, paged_attention_workspace(attention)));
  check(cudaMemcpyAsync(inputs, in, step.total() * sizeof(int32_t), cudaMemcpyHostToDevice, s.stream), "upload step inputs");
  check(cudaEventRecord(s.staging_free, s.stream), "cudaEventRecord");

  const int32_t* tokens = inputs;
  const int32_t* positions = inputs + step.positions();
  const int32_t* slots = inputs + step.slots();
  const int32_t* token_table = inputs + step.token_table();
  const int32_t* keys = inputs + step.keys();
  const int32_t* output_rows = inputs + step.output_rows();
  const int32_t* tables = inputs + step.tables();
  const int tn = step.tokens;
  auto record = [&] {
    embed(s.token_embd.get(), tokens, x, tn, d, s.stream);
    for (int li = 0; li < c.n_layers; ++li) {
      auto& l = s.layers[static_cast<size_t>(li)];
      uint16_t* k_cache = s.k_cache[static_cast<size_t>(li)].get();
      uint16_t* v_cache = s.v_cache[static_cast<size_t>(li)].get();
      rms_norm(x, l.attn_norm.get(), h, tn, d, c.rms_eps, s.stream);
      s.gemm.linear(h, l.w_qkv.get(), qkv, tn, d, q_dim + 2 * kv_dim, s.stream);
      rope_kv_write(qkv, positions, slots, k_cache, v_cache, {tn, c.n_heads, c.n_kv_heads, c.head_dim, c.rope_dim, c.layers[static_cast<size_t>(li)].rope_base},
                    s.stream);
      paged_attention(qkv, k_cache, v_cache, tables, token_table, keys, attn, nullptr, workspace, attention, s.stream);
      s.gemm.linear_add(attn, l.wo.get(), x, tn, q_dim, d, s.stream);
      rms_norm(x, l.ffn_norm.get(), h, tn, d, c.rms_eps, s.stream);
      s.gemm.linear(h, l.w_gate_up.get(), gate_up, tn, d, 2 * c.n_ff, s.stream);
      swiglu(gate_up, act, tn, c.n_ff, s.stream);
      s.gemm.linear_add(act, l.w_down.get(), x, tn, c.n_ff, d, s.stream);
    }
    if (step.outputs == 0) return;
    const float* rows = x;
    if (!step.all_outputs) {
      gather_rows(x, output_rows, out_x, step.outputs, d, s.stream);
      rows = out_x;
    }
    rms_norm(rows, s.output_norm.get(), h, step.outputs, d, c.rms_eps, s.stream);
    s.gemm.linear(h, c.tied_embeddings ? s.token_embd.get() : s.output.get(), logits, step.outputs, d, c.vocab_size, s.stream);
  };
  if (bucket > 0) {
    s.graphs.launch(static_cast<uint64_t>(bucket) | (static_cast<uint64_t>(step.table_width) << 32), s.stream, record);
  } else {
    record();
  }

  s.last_outputs = n_out;
}

std::vector<float> CudaLlamaModel::logits() {
  State& s = *state_;
  std::vector<float> host(static_cast<size_t>(s.last_outputs) * s.config.vocab_size);
  if (!host.empty()) {
    check(cudaMemcpyAsync(host.data(), s.logits.get(), host.size() * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
          "download logits");
  }
  check(cudaStreamSynchronize(s.stream), "forward");
  return host;
}

std::vector<sampling::SampledToken> CudaLlamaModel::sample(std::span<const sampling::SamplingRow> rows) {
  State& s = *state_;
  return s.sampler.sample(s.logits.get(), s.last_outputs, s.config.vocab_size, rows, s.stream);
}

namespace {

int32_t single_group_blocks(std::span<const int32_t> blocks_per_group) {
  if (blocks_per_group.size() != 1) throw std::invalid_argument("the CUDA model has one KV cache group");
  return blocks_per_group[0];
}

}  // namespace

model::ModelRunnerFactory cuda_runner_factory(const gguf::GgufFile& file) {
  return [&file](std::span<const int32_t> blocks_per_group, int32_t block_size) -> std::unique_ptr<model::ModelRunner> {
    auto weights = gguf_weight_source(file);
    return std::make_unique<CudaLlamaModel>(model::ModelConfig::from_gguf(file), *weights,
                                            single_group_blocks(blocks_per_group), block_size);
  };
}

model::ModelRunnerFactory synthetic_runner_factory(const model::ModelConfig& config, uint64_t seed) {
  return [config, seed](std::span<const int32_t> blocks_per_group, int32_t block_size) -> std::unique_ptr<model::ModelRunner> {
    auto weights = random_weight_source(seed);
    return std::make_unique<CudaLlamaModel>(config, *weights, single_group_blocks(blocks_per_group), block_size);
  };
}

}  // namespace strata::cuda
