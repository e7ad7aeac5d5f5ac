// Times one layer's decode attention step on the GPU: `full` (split-KV over every key) against
// `block_topk` at 1/8 of the pages, its whole step counted: the bounds of the block each
// sequence completes (every step, the worst case), the page scores and selection, and split-KV
// over the page lists. Each decode token is the last of its sequence's `context` keys over a
// scattered paged fp16 cache (16-token blocks). Steps rotate over several layers' caches, more
// bytes than the L2 cache holds, and run as CUDA graph replays (the model's decode steps do).
// Prints a table with each step's floor (bytes it must read / 3.0 TB/s) and writes JSON.
//
//   strata-decode-attention-bench [--json FILE] [--contexts 8192,16384,32768] [--batches 1,8]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/device_array.h"
#include "engine/cuda/ops.h"

namespace {

using namespace strata;
using namespace strata::cuda;

constexpr double kBandwidth = 3.0e12;  // bytes/s: the floors' H100 HBM3 read rate
constexpr int kBlockSize = 16;
constexpr int kReplays = 7;

struct ModelShape {
  const char* name;
  int n_heads, n_kv_heads, head_dim;
};

std::vector<int> int_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

// Median over kReplays graph replays of `steps` calls of step(i), in microseconds per step.
double time_steps(int steps, const std::function<void(int, cudaStream_t)>& step, cudaStream_t stream) {
  for (int i = 0; i < steps; ++i) step(i, stream);  // warm-up, outside the graph
  check(cudaStreamSynchronize(stream), "warm-up");
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), "begin capture");
  for (int i = 0; i < steps; ++i) step(i, stream);
  check(cudaStreamEndCapture(stream, &graph), "end capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  check(cudaGraphLaunch(exec, stream), "graph launch");  // warm-up replay
  std::vector<double> times;
  for (int r = 0; r < kReplays; ++r) {
    check(cudaEventRecord(start, stream), "record");
    check(cudaGraphLaunch(exec, stream), "graph launch");
    check(cudaEventRecord(stop, stream), "record");
    check(cudaEventSynchronize(stop), "synchronize");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
    times.push_back(1e3 * ms / steps);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

nlohmann::json run_case(const ModelShape& m, int batch, int context, cudaStream_t stream, std::mt19937& rng) {
  const size_t row = static_cast<size_t>(m.n_kv_heads) * m.head_dim;
  const int pages = context / kBlockSize;
  const size_t layer_blocks = static_cast<size_t>(batch) * pages;
  const size_t layer_bytes = layer_blocks * kBlockSize * row * 2 * sizeof(uint16_t);  // K and V
  int l2_bytes = 0, device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device), "L2 size");
  const int layers = static_cast<int>(std::max<size_t>(2, (4 * static_cast<size_t>(l2_bytes) + layer_bytes - 1) / layer_bytes));
  const int steps = std::max(24, 2 * layers);

  DeviceArray<uint16_t> k(layers * layer_blocks * kBlockSize * row), v(k.size()), bounds(layers * layer_blocks * 2 * row);
  fill_uniform_bf16(k.get(), static_cast<int64_t>(k.size()), rng(), 0.5f, stream);  // fp16 bits in (-2, 2)
  fill_uniform_bf16(v.get(), static_cast<int64_t>(v.size()), rng(), 0.5f, stream);
  std::vector<int32_t> all_blocks(layer_blocks), tables(layer_blocks), completed(batch), token_table(batch),
      token_keys(batch, context);
  std::iota(all_blocks.begin(), all_blocks.end(), 0);
  tables = all_blocks;
  std::shuffle(tables.begin(), tables.end(), rng);
  std::iota(token_table.begin(), token_table.end(), 0);
  for (int b = 0; b < batch; ++b) completed[b] = tables[static_cast<size_t>(b) * pages + pages - 1];
  DeviceArray<int32_t> d_all(all_blocks), d_tables(tables), d_completed(completed), d_table(token_table), d_keys(token_keys);
  const size_t layer_kv = layer_blocks * kBlockSize * row, layer_bounds = layer_blocks * 2 * row;
  for (int l = 0; l < layers; ++l) {
    page_bounds(k.get() + l * layer_kv, d_all.get(), static_cast<int>(layer_blocks), bounds.get() + l * layer_bounds, m.n_kv_heads,
                m.head_dim, kBlockSize, stream);
  }
  const int q_stride = m.n_heads * m.head_dim;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(batch) * q_stride);
  for (auto& x : q) x = normal(rng);
  DeviceArray<float> d_q(q);
  DeviceArray<uint16_t> out(static_cast<size_t>(batch) * q_stride);

  const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
  const attention::PageBudget budget{0, 0.125, 1, 1};
  const PagedAttentionShape full{batch, m.n_heads, m.n_kv_heads, m.head_dim, kBlockSize, q_stride, pages, context, scale};
  const PageSelectionShape selection{batch, m.n_heads, m.n_kv_heads, m.head_dim, kBlockSize, q_stride, pages, pages, budget};
  const int stride = page_list_stride(selection);
  PagedAttentionShape sparse = full;
  sparse.max_keys = std::min(context, stride * kBlockSize);
  DeviceArray<float> full_ws(std::max<size_t>(1, paged_attention_workspace(full))),
      sparse_ws(std::max<size_t>(1, paged_attention_workspace(sparse))), scores(page_selection_workspace(selection));
  DeviceArray<int32_t> lists(static_cast<size_t>(batch) * m.n_kv_heads * stride);

  auto full_step = [&](int i, cudaStream_t s) {
    const size_t l = static_cast<size_t>(i % layers);
    paged_attention(d_q.get(), k.get() + l * layer_kv, v.get() + l * layer_kv, d_tables.get(), d_table.get(), d_keys.get(), nullptr,
                    out.get(), nullptr, full_ws.get(), full, s);
  };
  auto selection_step = [&](int i, cudaStream_t s) {
    const size_t l = static_cast<size_t>(i % layers);
    page_bounds(k.get() + l * layer_kv, d_completed.get(), batch, bounds.get() + l * layer_bounds, m.n_kv_heads, m.head_dim,
                kBlockSize, s);
    select_pages(d_q.get(), bounds.get() + l * layer_bounds, d_tables.get(), d_table.get(), d_keys.get(), lists.get(), scores.get(),
                 selection, s);
  };
  auto list_attention_step = [&](int i, cudaStream_t s) {
    const size_t l = static_cast<size_t>(i % layers);
    paged_attention(d_q.get(), k.get() + l * layer_kv, v.get() + l * layer_kv, d_tables.get(), d_table.get(), d_keys.get(), nullptr,
                    out.get(), nullptr, sparse_ws.get(), sparse, s, {lists.get(), stride, budget});
  };
  auto topk_step = [&](int i, cudaStream_t s) {
    selection_step(i, s);
    list_attention_step(i, s);
  };
  const double full_us = time_steps(steps, full_step, stream);
  const double topk_us = time_steps(steps, topk_step, stream);
  const double selection_us = time_steps(steps, selection_step, stream);
  const double list_attention_us = time_steps(steps, list_attention_step, stream);

  // Bytes each step must read: full, every K and V row; block_topk, the completed blocks' keys,
  // the candidates' bounds, and the K and V rows of the pages read.
  const int read = std::min(pages, attention::pages_to_read(budget, pages));
  const double kv_page = static_cast<double>(kBlockSize) * row * 2 * sizeof(uint16_t);
  const double full_bytes = static_cast<double>(batch) * pages * kv_page;
  const double topk_bytes = batch * (kv_page / 2 + (pages - budget.sink_pages - budget.recent_pages) * 2.0 * row * sizeof(uint16_t) +
                                     read * kv_page);
  return {{"model_shape", m.name},
          {"n_heads", m.n_heads},
          {"n_kv_heads", m.n_kv_heads},
          {"head_dim", m.head_dim},
          {"batch", batch},
          {"context", context},
          {"block_size", kBlockSize},
          {"pages_read", read},
          {"pages", pages},
          {"layers_rotated", layers},
          {"full_us", full_us},
          {"full_floor_us", 1e6 * full_bytes / kBandwidth},
          {"block_topk_us", topk_us},
          {"block_topk_selection_us", selection_us},
          {"block_topk_attention_us", list_attention_us},
          {"block_topk_floor_us", 1e6 * topk_bytes / kBandwidth},
          {"speedup", full_us / topk_us}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  std::vector<int> contexts = {8192, 16384, 32768}, batches = {1, 8};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--json") {
      json_path = argv[++i];
    } else if (i + 1 < argc && arg == "--contexts") {
      contexts = int_list(argv[++i]);
    } else if (i + 1 < argc && arg == "--batches") {
      batches = int_list(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--contexts 8192,16384,32768] [--batches 1,8]\n", argv[0]);
      return 2;
    }
  }
  try {
    cudaDeviceProp props{};
    check(cudaGetDeviceProperties(&props, 0), "cudaGetDeviceProperties");
    cudaStream_t stream;
    check(cudaStreamCreate(&stream), "cudaStreamCreate");
    std::mt19937 rng(1234);
    const ModelShape shapes[] = {{"Llama-3.1-8B", 32, 8, 128}, {"SmolLM2-135M", 9, 3, 64}};
    nlohmann::json results = nlohmann::json::array();
    std::printf("%-13s %5s %7s %8s | %8s %7s | %8s %9s %8s %7s | %7s\n", "shape", "batch", "context", "pages", "full us", "floor",
                "topk us", "select us", "attn us", "floor", "speedup");
    for (const auto& m : shapes) {
      for (int batch : batches) {
        for (int context : contexts) {
          const auto r = run_case(m, batch, context, stream, rng);
          std::printf("%-13s %5d %7d %3d/%-4d | %8.1f %7.1f | %8.1f %9.1f %8.1f %7.1f | %6.2fx\n", m.name, batch, context,
                      r["pages_read"].get<int>(), r["pages"].get<int>(), r["full_us"].get<double>(), r["full_floor_us"].get<double>(),
                      r["block_topk_us"].get<double>(), r["block_topk_selection_us"].get<double>(),
                      r["block_topk_attention_us"].get<double>(), r["block_topk_floor_us"].get<double>(), r["speedup"].get<double>());
          std::fflush(stdout);
          results.push_back(r);
        }
      }
    }
    if (!json_path.empty()) {
      const nlohmann::json doc{{"device", props.name},
                               {"what", "one layer's decode attention step, full vs block_topk at 1/8 of the pages, CUDA graph replays"},
                               {"bandwidth_for_floors_bytes_per_s", kBandwidth},
                               {"results", results}};
      std::ofstream(json_path) << doc.dump(2) << "\n";
    }
    cudaStreamDestroy(stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
