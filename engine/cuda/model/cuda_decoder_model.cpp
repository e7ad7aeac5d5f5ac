#include "engine/cuda/model/cuda_decoder_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/attention/device_support.h"
#include "engine/cuda/device_array.h"
#include "engine/cuda/eviction_ops.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/gpu_sampler.h"
#include "engine/cuda/graph_cache.h"
#include "engine/cuda/ops.h"
#include "engine/cuda/model/step_plan.h"
#include "engine/cuda/pinned_buffer.h"
#include "engine/model/cached_reads.h"

namespace strata::cuda {
namespace {

// State::selection_slot of each layer; `slots` gets how many there are.
std::vector<int> selection_slots_of(const attention::AttentionPlan& plan, int& slots) {
  std::vector<int> slot(plan.layers.size(), -1);
  const auto reused = [&](size_t source) {
    return std::ranges::any_of(plan.layers, [&](const auto& a) { return a.plan.reuse_selection_of == static_cast<int>(source); });
  };
  slots = 1;
  for (size_t li = 0; li < plan.layers.size(); ++li) {
    const attention::LayerPlan& p = plan.layers[li].plan;
    if (p.scores_pages()) {
      slot[li] = reused(li) ? slots++ : 0;
    } else if (p.page_budget) {
      slot[li] = slot[static_cast<size_t>(p.reuse_selection_of)];
    }
  }
  return slot;
}

}  // namespace

struct CudaDecoderModel::State {
  struct Layer {
    DeviceArray<float> attn_norm, ffn_norm;
    DeviceArray<float> q_norm, k_norm;                  // QK-norm (Gemma 3), else empty
    DeviceArray<float> post_attn_norm, post_ffn_norm;  // post-norms (Gemma 3), else empty
    DeviceArray<uint16_t> w_qkv;      // [q | k | v] rows: one projection
    DeviceArray<uint16_t> wo;
    DeviceArray<uint16_t> w_gate_up;  // [gate | up] rows: one projection
    DeviceArray<uint16_t> w_down;
  };

  model::ModelConfig config;
  attention::AttentionPlan plan;
  std::vector<kvcache::CacheKind> group_kinds;  // the plan's, in order
  // Per cache group, its blocks; block blocks_per_group[g] of group g's pool is its scratch block.
  std::vector<int32_t> blocks_per_group;
  int32_t block_size = 0;
  DeviceArray<uint16_t> token_embd, output;  // output empty when tied
  DeviceArray<float> output_norm;
  std::vector<Layer> layers;
  // Per layer, its cache group's pool: [blocks + 1 blocks x block_size x kv_heads x head_dim] fp16,
  // blocks being the group's. The last block is scratch: the padding rows of a graph step write
  // and read there.
  std::vector<DeviceArray<uint16_t>> k_cache, v_cache;
  // block_topk: per layer its budget (none: other backends) and, for a layer that scores pages,
  // its key bounds, [blocks + 1 blocks x 2 x kv_heads x head_dim] fp16 (min then max) of its
  // group's blocks, empty for other layers.
  std::vector<std::optional<attention::PageBudget>> page_budgets;
  std::vector<DeviceArray<uint16_t>> bounds;
  // block_topk: per layer the slot of page_lists its selection is in (-1: other backends); a
  // layer reusing another's choice (TidalDecode) reads its source's slot. A layer whose choice
  // is reused keeps a slot of its own, which no later layer overwrites; the others share slot 0.
  std::vector<int> selection_slot;
  int selection_slots = 0;
  // evict: per group its budget in blocks (0: other kinds) and its layers for the compaction
  // kernels (empty for other kinds), per layer its slots' metadata, [blocks + 1 blocks x
  // block_size x kv_heads] (positions, scores; empty for other layers), the compactions' scratch
  // and what the latest step's compactions emptied.
  std::vector<int32_t> evict_budget_blocks;
  std::vector<DeviceArray<EvictingLayer>> evicting_layers;
  std::vector<DeviceArray<int32_t>> slot_positions;
  std::vector<DeviceArray<float>> slot_scores;
  DeviceArray<unsigned long long> rank_keys;
  DeviceArray<SlotMove> slot_moves;
  std::vector<model::CompactedBlocks> compacted;
  Gemm gemm;
  cudaStream_t stream = nullptr;
  GraphCache graphs;

  // Step buffers, grown to the largest step seen; growing one drops the captured graphs, which
  // hold their addresses.
  DeviceArray<int32_t> inputs;
  DeviceArray<float> x, qkv, gate_up, proj, out_x, logits, attn_workspace, selection_workspace, lse;
  DeviceArray<int32_t> page_lists;
  DeviceArray<uint16_t> h, attn, act;
  PinnedBuffer<int32_t> staging;
  cudaEvent_t staging_free = nullptr;  // the latest step's inputs have left `staging`
  int32_t last_outputs = 0;            // logits rows the latest step left in `logits`
  GpuSampler sampler;

  // A step buffer of at least n elements; growing one drops the graphs.
  template <typename T>
  T* ensure(DeviceArray<T>& array, size_t n) {
    if (array.size() < n) graphs.clear();
    return grown(array, n);
  }
  // A buffer no graph holds, of at least n elements.
  template <typename T>
  static T* grown(DeviceArray<T>& array, size_t n) {
    if (array.size() < n) array = DeviceArray<T>(std::max(n, array.size() * 2));
    return array.get();
  }
};

CudaDecoderModel::CudaDecoderModel(const model::ModelConfig& config, WeightSource& weights, std::vector<int32_t> blocks_per_group,
                                   int32_t block_size, attention::AttentionPlan plan)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  if (plan.layers.empty()) plan = attention::resolve_attention(attention::AttentionLayout{}, config);
  if (plan.layers.size() != static_cast<size_t>(config.n_layers)) {
    throw std::invalid_argument("CudaDecoderModel: an attention plan of " + std::to_string(plan.layers.size()) + " layers for " +
                                std::to_string(config.n_layers) + " layers");
  }
  attention::check_runs_on_cuda(plan);
  if (config.features.attention_output_gate || config.moe.n_experts > 0) {
    throw std::invalid_argument("CudaDecoderModel: " + config.architecture + " models (" +
                                (config.moe.n_experts > 0 ? "mixture-of-experts FFNs" : "gated attention outputs") +
                                ") do not run on the CUDA model yet (use --device cpu)");
  }
  if (blocks_per_group.size() != plan.groups.size()) {
    throw std::invalid_argument("CudaDecoderModel: " + std::to_string(blocks_per_group.size()) + " block counts for " +
                                std::to_string(plan.groups.size()) + " cache groups");
  }
  for (const auto& layer : plan.layers) s.page_budgets.push_back(layer.plan.page_budget);
  s.selection_slot = selection_slots_of(plan, s.selection_slots);
  s.group_kinds = plan.group_kinds();
  for (const auto& group : plan.groups) {
    s.evict_budget_blocks.push_back(
        group.kind == kvcache::CacheKind::kEvictingKv ? static_cast<int32_t>(group.budget_blocks(block_size)) : 0);
  }
  s.plan = std::move(plan);
  s.blocks_per_group = std::move(blocks_per_group);
  s.config = config;
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
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    State::Layer l;
    l.attn_norm = DeviceArray<float>(static_cast<size_t>(d));
    weights.vector(p + "attn_norm.weight", d, l.attn_norm.get());
    l.ffn_norm = DeviceArray<float>(static_cast<size_t>(d));
    weights.vector(p + "ffn_norm.weight", d, l.ffn_norm.get());
    if (c.features.qk_norm) {
      l.q_norm = DeviceArray<float>(static_cast<size_t>(c.head_dim));
      weights.vector(p + "attn_q_norm.weight", c.head_dim, l.q_norm.get());
      l.k_norm = DeviceArray<float>(static_cast<size_t>(c.head_dim));
      weights.vector(p + "attn_k_norm.weight", c.head_dim, l.k_norm.get());
    }
    if (c.features.post_norms) {
      l.post_attn_norm = DeviceArray<float>(static_cast<size_t>(d));
      weights.vector(p + "post_attention_norm.weight", d, l.post_attn_norm.get());
      l.post_ffn_norm = DeviceArray<float>(static_cast<size_t>(d));
      weights.vector(p + "post_ffw_norm.weight", d, l.post_ffn_norm.get());
    }
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
    const int group = s.plan.layers[static_cast<size_t>(i)].cache_group;
    const auto blocks = static_cast<size_t>(s.blocks_per_group[static_cast<size_t>(group)]) + 1;  // and a scratch block
    s.k_cache.emplace_back(blocks * block_size * kv_dim);
    s.v_cache.emplace_back(blocks * block_size * kv_dim);
    s.bounds.emplace_back(s.plan.layers[static_cast<size_t>(i)].plan.scores_pages() ? blocks * 2 * kv_dim : 0);
    const size_t metadata = s.plan.layers[static_cast<size_t>(i)].plan.eviction ? blocks * block_size * c.n_kv_heads : 0;
    s.slot_positions.emplace_back(metadata);
    s.slot_scores.emplace_back(metadata);
  }
  for (const auto& group : s.plan.groups) {
    std::vector<EvictingLayer> evicting;
    for (const int32_t li : group.layers) {
      const auto l = static_cast<size_t>(li);
      const auto& eviction = s.plan.layers[l].plan.eviction;
      if (!eviction) continue;
      evicting.push_back({s.k_cache[l].get(), s.v_cache[l].get(), s.slot_positions[l].get(), s.slot_scores[l].get(),
                          eviction->policy == attention::EvictPolicy::kH2O ? 1 : 0, eviction->sink_tokens,
                          eviction->recent_tokens, eviction->pool_kernel});
    }
    s.evicting_layers.emplace_back(evicting);
  }
}

CudaDecoderModel::~CudaDecoderModel() {
  if (state_ && state_->stream != nullptr) {
    cudaStreamSynchronize(state_->stream);
    state_->graphs.clear();
    if (state_->staging_free != nullptr) cudaEventDestroy(state_->staging_free);
    cudaStreamDestroy(state_->stream);
  }
}

const model::ModelConfig& CudaDecoderModel::config() const { return state_->config; }
int32_t CudaDecoderModel::block_size() const { return state_->block_size; }
size_t CudaDecoderModel::captured_graphs() const { return state_->graphs.size(); }

void CudaDecoderModel::copy_kv_block(int group, int32_t src, int32_t dst) {
  State& s = *state_;
  if (group < 0 || static_cast<size_t>(group) >= s.blocks_per_group.size()) {
    throw std::invalid_argument("copy_kv_block: no cache group " + std::to_string(group));
  }
  const int32_t n_blocks = s.blocks_per_group[static_cast<size_t>(group)];
  if (src < 0 || src >= n_blocks || dst < 0 || dst >= n_blocks) throw std::invalid_argument("copy_kv_block: block id out of range");
  const size_t row = static_cast<size_t>(s.config.n_kv_heads) * s.config.head_dim;
  const auto copy = [&]<typename T>(std::vector<DeviceArray<T>>& arrays, size_t block) {
    for (const int32_t layer : s.plan.groups[static_cast<size_t>(group)].layers) {
      DeviceArray<T>& array = arrays[static_cast<size_t>(layer)];
      if (array.size() == 0) continue;
      check(cudaMemcpyAsync(array.get() + dst * block, array.get() + src * block, block * sizeof(T),
                            cudaMemcpyDeviceToDevice, s.stream),
            "copy_kv_block");
    }
  };
  copy(s.k_cache, s.block_size * row);
  copy(s.v_cache, s.block_size * row);
  copy(s.bounds, 2 * row);
  copy(s.slot_positions, static_cast<size_t>(s.block_size) * s.config.n_kv_heads);
  copy(s.slot_scores, static_cast<size_t>(s.block_size) * s.config.n_kv_heads);
}

void CudaDecoderModel::step(const model::ForwardBatch& batch) {
  State& s = *state_;
  const auto& c = s.config;
  const model::FlatBatch flat = model::flatten(batch, c.context_length, c.vocab_size, s.block_size, s.group_kinds);
  model::check_reads_are_cached(batch, s.plan, s.block_size);
  const StepPlan plan = plan_step(batch, flat, s.block_size, s.blocks_per_group, s.evict_budget_blocks);
  const StepShape& step = plan.shape;
  const int bucket = plan.graph_bucket;
  const int d = c.n_embd, q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  check(cudaEventSynchronize(s.staging_free), "wait for the previous step's inputs");
  int32_t* in = s.staging.reserve(plan.packed_size);
  pack_step(plan, batch, flat, s.block_size, s.blocks_per_group, in, s.evict_budget_blocks);  // scratch: the block past each group's last

  // Buffers first (growing one drops the graphs), then the inputs.
  const auto nt = static_cast<size_t>(step.tokens);
  const int decodes = bucket > 0 ? step.tokens : step.listed_decodes;
  const PagedAttentionShape attention{decodes,      c.n_heads,         c.n_kv_heads,    c.head_dim,
                                      s.block_size, q_dim + 2 * kv_dim, step.table_width, step.max_keys,
                                      c.features.scale_queries ? 1.0f : c.attention_scale};
  int32_t* inputs = s.ensure(s.inputs, plan.packed_size);
  float* x = s.ensure(s.x, nt * d);
  float* qkv = s.ensure(s.qkv, nt * (q_dim + 2 * kv_dim));
  float* gate_up = s.ensure(s.gate_up, nt * 2 * c.n_ff);
  float* proj = c.features.post_norms ? s.ensure(s.proj, nt * d) : nullptr;
  uint16_t* h = s.ensure(s.h, nt * d);
  uint16_t* attn = s.ensure(s.attn, nt * q_dim);
  uint16_t* act = s.ensure(s.act, nt * c.n_ff);
  float* out_x = s.ensure(s.out_x, std::max<size_t>(1, static_cast<size_t>(step.outputs) * d));
  float* logits = s.ensure(s.logits, std::max<size_t>(1, static_cast<size_t>(step.outputs) * c.vocab_size));
  // block_topk layers: every token (prompt tokens too) selects its pages and attends to them
  // through the split-KV kernel; no budget here reads more than step.max_keys keys.
  const bool selects = std::ranges::any_of(s.page_budgets, [](const auto& b) { return b.has_value(); });
  PageSelectionShape selection{step.tokens, c.n_heads, c.n_kv_heads, c.head_dim, s.block_size, q_dim + 2 * kv_dim,
                               step.table_width, (step.max_keys + s.block_size - 1) / s.block_size, {}};
  PagedAttentionShape listed_attention = attention;
  listed_attention.tokens = step.tokens;
  int list_stride = 0;
  for (const auto& budget : s.page_budgets) {
    if (!budget) continue;
    selection.budget = *budget;
    list_stride = std::max(list_stride, page_list_stride(selection));
  }
  listed_attention.max_keys = std::min(step.max_keys, list_stride * s.block_size);
  // evict layers keep each token's log-sum-exp for the keys' scores.
  float* lse = step.evict_rows > 0 ? s.ensure(s.lse, nt * c.n_heads) : nullptr;
  float* workspace = s.ensure(s.attn_workspace, std::max<size_t>({1, paged_attention_workspace(attention),
                                                                   selects ? paged_attention_workspace(listed_attention) : 0}));
  float* scores = selects ? s.ensure(s.selection_workspace, std::max<size_t>(1, page_selection_workspace(selection))) : nullptr;
  const size_t list_slot = nt * c.n_kv_heads * static_cast<size_t>(list_stride);
  int32_t* page_lists = selects ? s.ensure(s.page_lists, std::max<size_t>(1, list_slot * s.selection_slots)) : nullptr;
  check(cudaMemcpyAsync(inputs, in, plan.packed_size * sizeof(int32_t), cudaMemcpyHostToDevice, s.stream), "upload step inputs");
  check(cudaEventRecord(s.staging_free, s.stream), "cudaEventRecord");

  const int32_t* tokens = inputs;
  const int32_t* positions = inputs + step.positions();
  const int32_t* token_table = inputs + step.token_table();
  const int32_t* keys = inputs + step.keys();
  const int32_t* output_rows = inputs + step.output_rows();
  const auto* prefill_tiles = reinterpret_cast<const PrefillTile*>(inputs + step.tiles());
  const int32_t* listed = bucket > 0 ? nullptr : inputs + step.decode_list();
  const int tn = step.tokens;
  const bool post_norms = c.features.post_norms;
  const float q_scale = c.features.scale_queries ? c.attention_scale : 1.0f;
  const auto activation = c.features.ffn_activation == model::FfnActivation::kGeluTanh ? GatedActivation::kGeluTanh
                                                                                      : GatedActivation::kSilu;
  // A block's output: added to the residual by the GEMM, or through its post-norm.
  auto add_output = [&](const LinearInput& input, const uint16_t* w, int width, const DeviceArray<float>& post_norm) {
    if (!post_norms) return s.gemm.linear_add(input, w, x, tn, width, d, s.stream);
    s.gemm.linear(input, w, proj, tn, width, d, s.stream);
    norm_add(proj, post_norm.get(), x, tn, d, c.rms_eps, s.stream);
  };
  auto record = [&] {
    embed(s.token_embd.get(), tokens, x, tn, d, c.embedding_scale, s.stream);
    for (int li = 0; li < c.n_layers; ++li) {
      auto& l = s.layers[static_cast<size_t>(li)];
      const attention::LayerAttention& layer = s.plan.layers[static_cast<size_t>(li)];  // its keys, its cache group's inputs
      const int32_t* slots = inputs + step.slots(layer.cache_group);
      const int32_t* tables = inputs + step.tables(layer.cache_group);
      const int32_t* completed = inputs + step.completed(layer.cache_group);
      const auto& spec = c.layers[static_cast<size_t>(li)];
      uint16_t* k_cache = s.k_cache[static_cast<size_t>(li)].get();
      uint16_t* v_cache = s.v_cache[static_cast<size_t>(li)].get();
      const LinearInput attn_input = LinearInput::rms_norm(x, l.attn_norm.get(), c.rms_eps, h);
      const RopeKvWriteShape rope{tn,           c.n_heads, c.n_kv_heads, c.head_dim, c.rope_dim, spec.rope_base,
                                  c.features.rope_pairing == model::RopePairing::kHalves, spec.rope_freq_scale, q_scale};
      if (c.features.qk_norm) {  // the head norms come between the projection and RoPE
        s.gemm.linear(attn_input, l.w_qkv.get(), qkv, tn, d, q_dim + 2 * kv_dim, s.stream);
        head_rms_norm(qkv, l.q_norm.get(), l.k_norm.get(), tn, c.n_heads, c.n_kv_heads, c.head_dim, c.rms_eps, s.stream);
        rope_kv_write(qkv, positions, slots, k_cache, v_cache, rope, s.stream);
      } else {
        s.gemm.rope_linear(attn_input, l.w_qkv.get(), qkv, d, positions, slots, k_cache, v_cache, rope, s.stream);
      }
      if (const auto& eviction = layer.plan.eviction) {
        // Listed tokens read their sequence's kept keys and those written since; prefill tiles
        // are of sequences not compacted yet (plan_step lists the others' tokens), whose keys
        // are all their earlier ones.
        const auto* rows = reinterpret_cast<const EvictRow*>(inputs + step.evict_rows_of(layer.cache_group));
        paged_attention(qkv, k_cache, v_cache, tables, token_table, keys, listed, attn, lse, workspace, attention, s.stream, {},
                        rows);
        prefill_attention(qkv, k_cache, v_cache, tables, prefill_tiles, step.prefill_tiles, attn, lse, attention, s.stream);
        accumulate_key_scores(qkv, k_cache, lse, tables, positions, rows, step.evict_rows,
                              s.slot_positions[static_cast<size_t>(li)].get(), s.slot_scores[static_cast<size_t>(li)].get(),
                              attention, *eviction, plan.tokens > static_cast<int>(batch.size()), s.stream);
      } else if (const auto& budget = s.page_budgets[static_cast<size_t>(li)]) {
        PageSelectionShape layer_selection = selection;
        layer_selection.budget = *budget;
        int32_t* lists = page_lists + list_slot * static_cast<size_t>(s.selection_slot[static_cast<size_t>(li)]);
        if (layer.plan.scores_pages()) {
          uint16_t* bounds = s.bounds[static_cast<size_t>(li)].get();
          page_bounds(k_cache, completed, step.completed_blocks, bounds, c.n_kv_heads, c.head_dim, s.block_size, s.stream);
          select_pages(qkv, bounds, tables, token_table, keys, lists, scores, layer_selection, s.stream);
        }
        paged_attention(qkv, k_cache, v_cache, tables, token_table, keys, nullptr, attn, nullptr, workspace, listed_attention,
                        s.stream, {lists, page_list_stride(layer_selection), *budget});
      } else {
        PagedAttentionShape layer_attention = attention;
        layer_attention.window = layer.plan.window_tokens;
        layer_attention.sinks = layer.plan.sink_tokens;
        paged_attention(qkv, k_cache, v_cache, tables, token_table, keys, listed, attn, nullptr, workspace, layer_attention,
                        s.stream);
        prefill_attention(qkv, k_cache, v_cache, tables, prefill_tiles, step.prefill_tiles, attn, nullptr, layer_attention,
                          s.stream);
      }
      add_output(LinearInput::bf16(attn), l.wo.get(), q_dim, l.post_attn_norm);
      s.gemm.gated_linear(LinearInput::rms_norm(x, l.ffn_norm.get(), c.rms_eps, h), l.w_gate_up.get(), gate_up, act, tn, d,
                          c.n_ff, activation, s.stream);
      add_output(LinearInput::bf16(act), l.w_down.get(), c.n_ff, l.post_ffn_norm);
    }
    if (step.outputs == 0) return;
    const float* rows = x;
    if (!step.all_outputs) {
      gather_rows(x, output_rows, out_x, step.outputs, d, s.stream);
      rows = out_x;
    }
    s.gemm.linear(LinearInput::rms_norm(rows, s.output_norm.get(), c.rms_eps, h),
                  c.tied_embeddings ? s.token_embd.get() : s.output.get(), logits, step.outputs, d, c.vocab_size, s.stream);
  };
  if (bucket > 0) {  // every group's tables are padded to one width: (bucket, width) is the whole shape
    s.graphs.launch(static_cast<uint64_t>(bucket) | (static_cast<uint64_t>(step.table_width) << 32), s.stream, record);
  } else {
    record();
  }

  s.last_outputs = plan.outputs;

  // Compactions after the step (outside its graph: they differ step by step), every layer of an
  // evicting group at once: the kept keys chosen, then moved to the front slots.
  s.compacted.clear();
  for (const GroupCompactions& gc : plan.compactions) {
    const auto n = static_cast<int>(gc.compactions.size());
    const DeviceArray<EvictingLayer>& layers = s.evicting_layers[static_cast<size_t>(gc.group)];
    const auto n_layers = static_cast<int>(layers.size());
    const auto* rows = reinterpret_cast<const CompactionRow*>(inputs + gc.rows_at);
    unsigned long long* rank_keys =
        State::grown(s.rank_keys, static_cast<size_t>(n_layers) * c.n_kv_heads * static_cast<size_t>(gc.candidates));
    SlotMove* moves = State::grown(s.slot_moves, static_cast<size_t>(n_layers) * n * c.n_kv_heads * gc.keep);
    choose_kept_slots(inputs + gc.candidates_at, gc.candidates, rows, n, gc.keep, c.n_kv_heads, layers.get(), n_layers,
                      rank_keys, moves, s.stream);
    compact_slots(moves, n, gc.keep, c.n_kv_heads, c.head_dim, layers.get(), n_layers, s.stream);
    for (size_t ci = 0; ci < gc.compactions.size(); ++ci) {
      s.compacted.push_back(model::CompactedBlocks{gc.sequences[ci], gc.group, gc.compactions[ci].emptied});
    }
  }
}

std::vector<model::CompactedBlocks> CudaDecoderModel::compacted_blocks() { return state_->compacted; }

std::vector<float> CudaDecoderModel::logits() {
  State& s = *state_;
  std::vector<float> host(static_cast<size_t>(s.last_outputs) * s.config.vocab_size);
  if (!host.empty()) {
    check(cudaMemcpyAsync(host.data(), s.logits.get(), host.size() * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
          "download logits");
  }
  check(cudaStreamSynchronize(s.stream), "forward");
  return host;
}

std::vector<sampling::SampledToken> CudaDecoderModel::sample(std::span<const sampling::SamplingRow> rows) {
  State& s = *state_;
  return s.sampler.sample(s.logits.get(), s.last_outputs, s.config.vocab_size, rows, s.stream);
}

model::ModelRunnerFactory cuda_runner_factory(const gguf::GgufFile& file, const attention::AttentionPlan& plan) {
  return [&file, plan](std::span<const int32_t> blocks_per_group, int32_t block_size) -> std::unique_ptr<model::ModelRunner> {
    auto weights = gguf_weight_source(file);
    return std::make_unique<CudaDecoderModel>(model::ModelConfig::from_gguf(file), *weights,
                                            std::vector<int32_t>(blocks_per_group.begin(), blocks_per_group.end()), block_size,
                                            plan);
  };
}

model::ModelRunnerFactory synthetic_runner_factory(const model::ModelConfig& config, uint64_t seed,
                                                   const attention::AttentionPlan& plan) {
  return [config, seed, plan](std::span<const int32_t> blocks_per_group,
                              int32_t block_size) -> std::unique_ptr<model::ModelRunner> {
    auto weights = random_weight_source(seed);
    return std::make_unique<CudaDecoderModel>(config, *weights, std::vector<int32_t>(blocks_per_group.begin(), blocks_per_group.end()),
                                            block_size, plan);
  };
}

}  // namespace strata::cuda
