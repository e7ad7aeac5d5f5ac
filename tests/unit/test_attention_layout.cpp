// The per-layer attention contract: layout files resolved against a model's config (the default,
// overrides by range, per-head windows, block_topk's budgets and reuse), every refusal with the
// layer and the reason, the cache groups and their bytes (Gemma 3's ~18% at 32k; block_topk's
// key bounds), and the device check.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/attention/attention_plan.h"
#include "engine/attention/backend_registry.h"
#include "engine/attention/device_support.h"
#include "engine/attention/layout_error.h"
#include "engine/attention/plan_description.h"
#include "kvcache/kv_cache_manager.h"

namespace strata::attention {
namespace {

model::ModelConfig attention_shape(int32_t n_layers, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim,
                                   int32_t context_length) {
  model::ModelConfig c;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = head_dim;
  c.context_length = context_length;
  c.layers.resize(static_cast<size_t>(n_layers));
  return c;
}

// SmolLM2-135M's attention shape: 30 global layers, 9 query heads over 3 KV heads.
model::ModelConfig smollm2_like() { return attention_shape(30, 9, 3, 64, 8192); }

// Gemma 3 270M's: 18 layers, 1 KV head of 256, five sliding (512) then one global.
model::ModelConfig gemma3_like() {
  model::ModelConfig c = attention_shape(18, 4, 1, 256, 32768);
  for (int i = 0; i < 18; ++i) c.layers[static_cast<size_t>(i)].sliding_window = i % 6 < 5 ? 512 : 0;
  return c;
}

AttentionPlan resolve(const std::string& json, const model::ModelConfig& config,
                      const std::filesystem::path& dir = std::filesystem::temp_directory_path()) {
  return resolve_attention(AttentionLayout::from_json(nlohmann::json::parse(json), "layout 't.json'", dir), config);
}

// Resolving `json` is refused with a message containing every one of `parts`.
void expect_refused(const std::string& json, const model::ModelConfig& config, std::initializer_list<std::string> parts,
                    const std::filesystem::path& dir = std::filesystem::temp_directory_path()) {
  SCOPED_TRACE(json);
  try {
    resolve(json, config, dir);
    ADD_FAILURE() << "accepted";
  } catch (const LayoutError& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

TEST(AttentionLayout, NoLayoutIsEveryLayerFullInOnePagedGroup) {
  const auto plan = resolve_attention(AttentionLayout{}, smollm2_like());
  ASSERT_EQ(plan.layers.size(), 30u);
  for (const auto& layer : plan.layers) {
    EXPECT_EQ(layer.plan.backend, "full");
    EXPECT_EQ(layer.plan.window_tokens, 0);
    EXPECT_EQ(layer.rule, "default");
    EXPECT_EQ(layer.cache_group, 0);
  }
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups[0].kind, kvcache::CacheKind::kPagedKv);
  EXPECT_EQ(plan.groups[0].bytes_per_token, 30 * 2 * 3 * 64 * 2);  // 22.5 KiB: fp16 K and V of 30 layers
  EXPECT_TRUE(plan.all_paged());
}

TEST(AttentionLayout, ExplicitRangesOverrideTheStar) {
  const auto plan = resolve(R"({"layers": {
      "*": {"backend": "sink_window", "window_tokens": 1024},
      "0-1": {"backend": "full"},
      "29": {"backend": "sink_window", "sink_tokens": 0, "window_fraction": 0.25}}})",
                            smollm2_like());
  EXPECT_EQ(plan.layers[0].plan.backend, "full");
  EXPECT_EQ(plan.layers[1].rule, "0-1");
  EXPECT_EQ(plan.layers[2].plan.backend, "sink_window");
  EXPECT_EQ(plan.layers[2].plan.sink_tokens, 4);  // StreamingLLM's default
  EXPECT_EQ(plan.layers[2].plan.window_tokens, 1024);
  EXPECT_EQ(plan.layers[2].rule, "*");
  EXPECT_EQ(plan.layers[29].plan.sink_tokens, 0);
  EXPECT_EQ(plan.layers[29].plan.window_tokens, 2048);
  // paged first, then window groups by (sinks, window)
  ASSERT_EQ(plan.groups.size(), 3u);
  EXPECT_EQ(plan.groups[0].kind, kvcache::CacheKind::kPagedKv);
  EXPECT_EQ(range_text(plan.groups[0].layers), "0-1");
  EXPECT_EQ(plan.groups[1].window_tokens, 2048);
  EXPECT_EQ(range_text(plan.groups[1].layers), "29");
  EXPECT_EQ(range_text(plan.groups[2].layers), "2-28");
  EXPECT_EQ(plan.layers[29].cache_group, 1);
  EXPECT_FALSE(plan.all_paged());
  const auto specs = plan.cache_group_specs(16);
  EXPECT_EQ(specs[2].kind, kvcache::CacheKind::kWindowKv);
  EXPECT_EQ(specs[2].sink_tokens, 4);
  EXPECT_EQ(specs[2].window_tokens, 1024);
  EXPECT_EQ(specs[2].bytes_per_token, 27 * 768);
}

TEST(AttentionLayout, OverlapsThatAgreeAreAccepted) {
  const auto plan = resolve(R"({"layers": {"0-9": {"backend": "full"}, "5-29,3": {"backend": "full"}}})", smollm2_like());
  EXPECT_EQ(plan.groups.size(), 1u);
}

TEST(AttentionLayout, Refusals) {
  const auto c = smollm2_like();
  expect_refused(R"({"layers": {"*": {"backend": "flash"}}})", c,
                 {"layers '*'", "unknown backend 'flash'", "full, sink_window, block_topk, linear, evict"});
  expect_refused(R"({"layers": {"3": {"backend": "evict"}}})", c, {"layers '3'", "evict needs \"policy\""});
  expect_refused(R"({"layers": {"4-5": {"backend": "linear"}}})", c,
                 {"layer 4 is trained as full attention", "'linear' runs only on layers trained for it"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "windw": 5, "window_tokens": 8}}})", c,
                 {"unknown parameter 'windw'", "sink_tokens, window_tokens"});
  expect_refused(R"({"layers": {"*": {"backend": "full", "window_tokens": 8}}})", c, {"unknown parameter 'window_tokens'"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window"}}})", c, {"exactly one of window_tokens and window_fraction"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_tokens": 8, "window_fraction": 0.5}}})", c,
                 {"exactly one"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_tokens": 0}}})", c,
                 {"'window_tokens' must be an integer in [1, 8192]"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_tokens": "8"}}})", c, {"'window_tokens'"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_fraction": 1.5}}})", c, {"'window_fraction'"});
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_tokens": 8, "sink_tokens": -1}}})", c,
                 {"'sink_tokens'"});
  expect_refused(R"({"layers": {"*": {"backend": "full", "release_outside_window": 1}}})", c,
                 {"'release_outside_window' must be true or false"});
  expect_refused(R"({"layers": {"28-30": {"backend": "full"}}})", c,
                 {"layers '28-30'", "layer 30, out of bounds", "30 layers: 0-29"});
  expect_refused(R"({"layers": {"9-2": {"backend": "full"}}})", c, {"'9-2' runs backwards"});
  expect_refused(R"({"layers": {"two": {"backend": "full"}}})", c, {"'two' is not"});
  expect_refused(R"({"layers": {"1-": {"backend": "full"}}})", c, {"'1-' is not"});
  expect_refused(R"({"layers": {"0-9": {"backend": "full"}, "5-29": {"backend": "sink_window", "window_tokens": 64}}})", c,
                 {"layer 5 is claimed by ranges '0-9' (full) and '5-29' (sink_window)"});
  expect_refused(R"({"layer": {}})", c, {"unknown key 'layer'"});
  expect_refused(R"({"layers": {}})", c, {"needs \"layers\""});
  expect_refused(R"({"layers": {"*": "full"}})", c, {"must be an object"});
  expect_refused(R"({"layers": {"*": {"window_tokens": 3}}})", c, {"needs \"backend\""});
}

TEST(AttentionLayout, SinkWindowCannotWidenATrainedSlidingWindow) {
  expect_refused(R"({"layers": {"*": {"backend": "sink_window", "window_fraction": 0.25}}})", gemma3_like(),
                 {"layer 0 was trained with a sliding window of 512", "use window_tokens <= 512"});
  const auto plan = resolve(R"({"layers": {"*": {"backend": "sink_window", "window_tokens": 256}}})", gemma3_like());
  EXPECT_EQ(plan.layers[0].trained_as, TrainedAs::kSliding);
  EXPECT_EQ(plan.layers[0].trained_window, 512);
  EXPECT_EQ(plan.layers[5].trained_as, TrainedAs::kFull);
  EXPECT_EQ(plan.layers[0].plan.window_tokens, 256);
}

TEST(AttentionLayout, HeadWindowPlans) {
  write_file("strata_heads_ok.json", R"({"head_windows": {"2-15": [64, 128, 256], "16": [8, 8, 8, 16, 16, 16, 256, 256, 256]}})");
  const auto plan = resolve(
      R"({"layers": {"2-29": {"backend": "sink_window", "window_tokens": 256, "head_windows": "strata_heads_ok.json"}}})",
      smollm2_like());
  // Per KV head: each applies to its 3 query heads.
  EXPECT_EQ(plan.layers[2].plan.head_windows, (std::vector<int32_t>{64, 64, 64, 128, 128, 128, 256, 256, 256}));
  EXPECT_EQ(plan.layers[16].plan.head_window(3), 16);
  EXPECT_TRUE(plan.layers[17].plan.head_windows.empty());  // not in the plan: the uniform window
  EXPECT_EQ(plan.layers[17].plan.head_window(3), 256);
  EXPECT_EQ(plan.layers[2].cache_group, plan.layers[17].cache_group);  // the group keeps the widest window
  const QueryKeys keys = plan.layers[2].plan.keys(1000, 0);
  EXPECT_EQ(keys.sink_end, 4);
  EXPECT_EQ(keys.window_begin, 1001 - 64);

  write_file("strata_heads_count.json", R"({"head_windows": {"2": [64, 128]}})");
  expect_refused(R"({"layers": {"2": {"backend": "sink_window", "window_tokens": 256, "head_windows": "strata_heads_count.json"}}})",
                 smollm2_like(), {"2 windows, expected one per query head (9) or per KV head (3)"});
  expect_refused(R"({"layers": {"3": {"backend": "sink_window", "window_tokens": 100, "head_windows": "strata_heads_ok.json"}}})",
                 smollm2_like(), {"which this rule does not cover"});
  expect_refused(R"({"layers": {"2-16": {"backend": "sink_window", "window_tokens": 100, "head_windows": "strata_heads_ok.json"}}})",
                 smollm2_like(), {"layer 2: head 3's window of 128 exceeds the rule's window of 100"});
  write_file("strata_heads_twice.json", R"({"head_windows": {"2-3": [1, 1, 1], "3": [2, 2, 2]}})");
  expect_refused(R"({"layers": {"2-3": {"backend": "sink_window", "window_tokens": 8, "head_windows": "strata_heads_twice.json"}}})",
                 smollm2_like(), {"layer 3 is named by both '2-3' and '3'"});
  write_file("strata_heads_zero.json", R"({"head_windows": {"2": [0, 1, 1]}})");
  expect_refused(R"({"layers": {"2": {"backend": "sink_window", "window_tokens": 8, "head_windows": "strata_heads_zero.json"}}})",
                 smollm2_like(), {"every window must be an integer >= 1"});
  expect_refused(R"({"layers": {"2": {"backend": "sink_window", "window_tokens": 8, "head_windows": "strata_no_such_plan.json"}}})",
                 smollm2_like(), {"strata_no_such_plan.json", "cannot read the file"});
}

TEST(AttentionLayout, LoadsTheShippedExamples) {
  const std::filesystem::path dir = std::string(STRATA_SOURCE_DIR) + "/configs/attention";
  EXPECT_EQ(resolve_attention(AttentionLayout::load(dir / "full.json"), smollm2_like()).groups.size(), 1u);
  EXPECT_EQ(resolve_attention(AttentionLayout::load(dir / "sink_window_25pct.json"), smollm2_like()).layers[7].plan.window_tokens,
            2048);
  EXPECT_EQ(resolve_attention(AttentionLayout::load(dir / "moa_smollm2.json"), smollm2_like()).groups.size(), 2u);
  EXPECT_EQ(resolve_attention(AttentionLayout::load(dir / "gemma3_native.json"), gemma3_like()).groups.size(), 2u);
  EXPECT_EQ(resolve_attention(AttentionLayout::load(dir / "sink_window_global_layers.json"), gemma3_like()).groups.size(), 2u);
  const auto eighth = resolve_attention(AttentionLayout::load(dir / "block_topk_8th.json"), smollm2_like());
  EXPECT_EQ(eighth.layers[1].plan.backend, "full");
  EXPECT_EQ(eighth.layers[2].plan.page_budget, (PageBudget{.page_fraction = 0.125}));
  EXPECT_EQ(eighth.groups.size(), 1u);
  const auto tidal = resolve_attention(AttentionLayout::load(dir / "block_topk_tidal.json"), smollm2_like());
  EXPECT_EQ(tidal.layers[14].plan.reuse_selection_of, 2);
  EXPECT_EQ(tidal.layers[16].plan.reuse_selection_of, 15);
  EXPECT_EQ(tidal.groups[0].bytes_per_page, 2 * 768);  // only layers 2 and 15 keep key bounds
  EXPECT_THROW(AttentionLayout::load(dir / "no_such_layout.json"), LayoutError);
}

// Gemma 3's sliding layers as window_kv groups: at 32k tokens a sequence holds 3 global layers of
// 32k tokens and 15 sliding layers of 512 + one block, about 18% of an all-global layout. The
// figure comes from the groups' byte accounting, and kvcache holds exactly that when one sequence
// decodes to 32k.
TEST(AttentionLayout, Gemma3NativeWindowsHoldAbout18PercentOfTheKvAt32k) {
  const auto config = gemma3_like();
  const auto plan = resolve(R"({"layers": {"*": {"backend": "full", "release_outside_window": true}}})", config);
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(range_text(plan.groups[1].layers), "0-4,6-10,12-16");
  const auto figure = kv_bytes_at(plan, config, 32768, 16);
  EXPECT_EQ(figure["all_global_bytes"].get<int64_t>(), int64_t{576} << 20);
  EXPECT_EQ(figure["bytes"].get<int64_t>(), (int64_t{96} << 20) + 15 * 528 * 1024);  // 103.7 MiB
  EXPECT_NEAR(figure["fraction"].get<double>(), 0.18, 0.001);

  kvcache::KvCacheConfig kv_config;
  kv_config.groups = plan.cache_group_specs(16);
  kv_config.num_blocks = 2048;
  kv_config.enable_prefix_cache = false;
  kvcache::KvCacheManager kv(kv_config);
  const std::vector<int32_t> one = {7};
  ASSERT_TRUE(kv.allocate(1, one));
  std::vector<kvcache::CopyOp> copies;
  int64_t peak_bytes = 0;
  for (int64_t len = 1; len < 32768; ++len) {
    kv.commit(1, one);
    ASSERT_TRUE(kv.append(1, 1, copies));
    int64_t bytes = 0;
    for (int g = 0; g < kv.num_groups(); ++g) bytes += int64_t{kv.usage(g).used} * kv.group_spec(g).bytes_per_block();
    peak_bytes = std::max(peak_bytes, bytes);
  }
  EXPECT_EQ(peak_bytes, figure["bytes"].get<int64_t>());
}

// The CUDA model runs paged, window and evicting cache groups: full layers, trained windows as
// masks or released (Gemma 3's native layout), sink_window, evict; not per-head windows, nor
// linear layers.
TEST(AttentionLayout, CudaRunsPagedWindowAndEvictingGroupsButNotPerHeadWindowsOrLinearLayers) {
  EXPECT_NO_THROW(check_runs_on_cuda(resolve_attention(AttentionLayout{}, smollm2_like())));
  EXPECT_NO_THROW(check_runs_on_cuda(resolve_attention(AttentionLayout{}, gemma3_like())));  // trained windows as masks
  EXPECT_NO_THROW(
      check_runs_on_cuda(resolve(R"({"layers": {"3-29": {"backend": "sink_window", "window_tokens": 64}}})", smollm2_like())));
  const std::filesystem::path dir = std::string(STRATA_SOURCE_DIR) + "/configs/attention";
  for (const char* gemma_layout : {"gemma3_native.json", "sink_window_global_layers.json"}) {
    EXPECT_NO_THROW(check_runs_on_cuda(resolve_attention(AttentionLayout::load(dir / gemma_layout), gemma3_like())))
        << gemma_layout;
  }
  try {
    check_runs_on_cuda(resolve_attention(AttentionLayout::load(dir / "moa_smollm2.json"), smollm2_like()));
    ADD_FAILURE() << "accepted";
  } catch (const LayoutError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda: layer 2 runs sink_window with per-head windows (MoA), which the CUDA "
                                         "attention kernels do not take"),
              std::string::npos)
        << e.what();
  }
  for (const char* evict_layout : {"snapkv_25pct.json", "h2o_25pct.json"}) {
    EXPECT_NO_THROW(check_runs_on_cuda(resolve_attention(AttentionLayout::load(dir / evict_layout), smollm2_like())))
        << evict_layout;
  }
  model::ModelConfig hybrid = smollm2_like();
  hybrid.layers[1].linear = true;
  try {
    check_runs_on_cuda(resolve_attention(AttentionLayout{}, hybrid));
    ADD_FAILURE() << "accepted";
  } catch (const LayoutError& e) {
    EXPECT_STREQ(e.what(), "--device cuda: layer 1 runs linear, which the CUDA model does not run yet (use --device cpu)");
  }
}

// block_topk: the budget and its defaults, reuse, its layers in the paged group with `full`'s, and
// the key bounds in the group's bytes: 2 x 3 KV heads x 64 fp16 = 768 bytes per block and
// scoring layer, 48 per token in blocks of 16.
TEST(AttentionLayout, BlockTopkBudgetsReuseAndBytes) {
  const auto plan = resolve(R"({"layers": {
      "2-9": {"backend": "block_topk", "page_fraction": 0.125},
      "10-15": {"backend": "block_topk", "page_fraction": 0.125, "reuse_selection_of": 2},
      "16": {"backend": "block_topk", "top_pages": 8, "sink_pages": 0, "recent_pages": 2}}})",
                            smollm2_like());
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.layers[1].plan.backend, "full");
  EXPECT_FALSE(plan.layers[1].plan.page_budget.has_value());
  EXPECT_EQ(plan.layers[2].plan.backend, "block_topk");
  EXPECT_EQ(plan.layers[2].plan.page_budget, (PageBudget{.top_pages = 0, .page_fraction = 0.125}));  // 1 sink, 1 recent
  EXPECT_TRUE(plan.layers[2].plan.scores_pages());
  EXPECT_EQ(plan.layers[10].plan.reuse_selection_of, 2);
  EXPECT_FALSE(plan.layers[10].plan.scores_pages());
  EXPECT_EQ(plan.layers[16].plan.page_budget, (PageBudget{.top_pages = 8, .sink_pages = 0, .recent_pages = 2}));
  EXPECT_EQ(plan.layers[16].plan.keys(100, 0).end, 101);  // every earlier key is a candidate
  EXPECT_EQ(plan.groups[0].bytes_per_token, 30 * 768);
  EXPECT_EQ(plan.groups[0].bytes_per_page, 9 * 768);  // the 9 scoring layers 2-9 and 16
  EXPECT_EQ(plan.cache_group_specs(16)[0].bytes_per_token, 30 * 768 + 9 * 48);
  EXPECT_EQ(plan.cache_group_specs(1)[0].bytes_per_token, 30 * 768 + 9 * 768);
  EXPECT_EQ(plan.resident_kv_bytes(100, 16), 7 * 16 * (30 * 768 + 9 * 48));
  try {
    (void)plan.cache_group_specs(5);
    ADD_FAILURE() << "accepted";
  } catch (const LayoutError& e) {
    EXPECT_NE(std::string(e.what()).find("blocks of 5 tokens do not divide its 6912 bytes of key bounds"), std::string::npos)
        << e.what();
  }
  const auto json = describe_plan(plan);
  EXPECT_EQ(json["layers"][2]["page_fraction"], 0.125);
  EXPECT_EQ(json["layers"][2]["sink_pages"], 1);
  EXPECT_EQ(json["layers"][10]["reuse_selection_of"], 2);
  EXPECT_EQ(json["layers"][16]["top_pages"], 8);
  EXPECT_FALSE(json["layers"][16].contains("reuse_selection_of"));
  EXPECT_EQ(json["cache_groups"][0]["bytes_per_page"], 9 * 768);
  const auto lines = describe_plan_lines(plan);
  EXPECT_NE(std::ranges::find(lines, "layers 2-9: trained full; block_topk, 0.125 of the pages (1 sink, 1 recent); "
                                     "cache group 0 (paged_kv)"),
            lines.end());
  EXPECT_NE(std::ranges::find(lines, "layers 10-15: trained full; block_topk, 0.125 of the pages (1 sink, 1 recent), "
                                     "pages chosen by layer 2; cache group 0 (paged_kv)"),
            lines.end());
  // The CUDA model runs block_topk layers, scoring their own pages or reusing another's choice.
  EXPECT_NO_THROW(check_runs_on_cuda(plan));
  EXPECT_NO_THROW(check_runs_on_cuda(
      resolve(R"({"layers": {"2-29": {"backend": "block_topk", "page_fraction": 0.125}}})", smollm2_like())));
}

TEST(AttentionLayout, BlockTopkRefusals) {
  const auto c = smollm2_like();
  const std::string rule = R"({"layers": {"2-29": {"backend": "block_topk", )";
  expect_refused(rule + R"("sink_pages": 1}}})", c, {"layers '2-29'", "exactly one of top_pages and page_fraction"});
  expect_refused(rule + R"("top_pages": 4, "page_fraction": 0.5}}})", c, {"exactly one of top_pages and page_fraction"});
  expect_refused(rule + R"("top_pages": 0}}})", c, {"'top_pages' must be an integer in [1, 8192]"});
  expect_refused(rule + R"("page_fraction": 0}}})", c, {"'page_fraction' must be a number in (0"});
  expect_refused(rule + R"("page_fraction": 1.5}}})", c, {"'page_fraction'"});
  expect_refused(rule + R"("top_pages": 4, "recent_pages": 0}}})", c, {"'recent_pages' must be an integer in [1,"});
  expect_refused(rule + R"("top_pages": 4, "sink_pages": -1}}})", c, {"'sink_pages'"});
  expect_refused(rule + R"("top_pages": 4, "reuse_selection_of": 30}}})", c, {"'reuse_selection_of'"});
  expect_refused(rule + R"("top_pages": 4, "window_tokens": 8}}})", c, {"unknown parameter 'window_tokens'"});
  // reuse_selection_of: an earlier, scoring block_topk layer with the same budget.
  expect_refused(rule + R"("top_pages": 4, "reuse_selection_of": 5}}})", c,
                 {"layers '2-29': layer 2 cannot reuse the page selection of layer 5", "must come before"});
  expect_refused(rule + R"("top_pages": 4, "reuse_selection_of": 1}}})", c,
                 {"layer 2 cannot reuse the page selection of layer 1, which runs full, not block_topk"});
  expect_refused(R"({"layers": {"1": {"backend": "block_topk", "top_pages": 4},
                                "2-29": {"backend": "block_topk", "top_pages": 5, "reuse_selection_of": 1}}})",
                 c, {"layer 2 cannot reuse the page selection of layer 1", "differ"});
  expect_refused(R"({"layers": {"1": {"backend": "block_topk", "top_pages": 4},
                                "2": {"backend": "block_topk", "top_pages": 4, "reuse_selection_of": 1},
                                "3": {"backend": "block_topk", "top_pages": 4, "reuse_selection_of": 2}}})",
                 c, {"layers '3': layer 3 cannot reuse the page selection of layer 2, which reuses layer 1's"});
  expect_refused(R"({"layers": {"*": {"backend": "block_topk", "top_pages": 4}}})", gemma3_like(),
                 {"layer 0 was trained with a sliding window of 512 tokens"});
}

TEST(AttentionLayout, RegistryDeclaresEachBackend) {
  const auto backends = registered_backends();
  ASSERT_EQ(backends.size(), 5u);
  EXPECT_EQ(backends[0].name, "full");
  EXPECT_TRUE(backends[0].supports.prefix_cache);
  EXPECT_TRUE(backends[0].runs_on_cuda);
  EXPECT_EQ(backends[1].name, "sink_window");
  EXPECT_EQ(backends[1].cache_kinds, std::vector<kvcache::CacheKind>{kvcache::CacheKind::kWindowKv});
  EXPECT_FALSE(backends[1].supports.prefix_cache);
  EXPECT_TRUE(backends[1].supports.chunked_prefill);
  EXPECT_TRUE(backends[1].supports.preemption_recompute);
  EXPECT_TRUE(backends[1].supports.cuda_graphs);
  EXPECT_TRUE(backends[1].runs_on_cuda);
  EXPECT_EQ(backends[1].bytes_per_token(smollm2_like()), 768);
  EXPECT_EQ(backends[2].name, "block_topk");
  EXPECT_EQ(backends[2].cache_kinds, std::vector<kvcache::CacheKind>{kvcache::CacheKind::kPagedKv});
  EXPECT_TRUE(backends[2].supports.prefix_cache && backends[2].supports.chunked_prefill &&
              backends[2].supports.preemption_recompute && backends[2].supports.cuda_graphs);
  EXPECT_TRUE(backends[2].runs_on_cuda);
  EXPECT_EQ(backends[2].bytes_per_token(smollm2_like()), 768);
  EXPECT_EQ(backends[3].name, "linear");
  EXPECT_EQ(backends[3].cache_kinds, std::vector<kvcache::CacheKind>{kvcache::CacheKind::kRecurrentState});
  EXPECT_TRUE(backends[3].runs_linear_layers);
  EXPECT_FALSE(backends[3].supports.prefix_cache);
  EXPECT_TRUE(backends[3].supports.chunked_prefill);
  EXPECT_TRUE(backends[3].supports.preemption_recompute);
  EXPECT_FALSE(backends[3].runs_on_cuda);
  EXPECT_EQ(backends[4].name, "evict");
  EXPECT_EQ(backends[4].cache_kinds, std::vector<kvcache::CacheKind>{kvcache::CacheKind::kEvictingKv});
  EXPECT_FALSE(backends[4].supports.prefix_cache);
  EXPECT_TRUE(backends[4].supports.chunked_prefill);
  EXPECT_FALSE(backends[4].supports.preemption_recompute);
  EXPECT_TRUE(backends[4].supports.cuda_graphs);
  EXPECT_TRUE(backends[4].runs_on_cuda);
  EXPECT_EQ(backends[4].bytes_per_token(smollm2_like()), 768 + 3 * 8);  // + a position and a score per KV head
}

}  // namespace
}  // namespace strata::attention
