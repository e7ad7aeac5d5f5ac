// strata bench: the speed of one sequence (prompt processing and generation), or, with
// --concurrency, the offline throughput of many requests through the scheduler.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/runtime/loaded_model.h"
#include "scheduler/scheduler.h"
#include "server/cli/arg_parser.h"
#include "server/cli/commands.h"
#include "server/cli/device_option.h"
#include "server/cli/model_option.h"
#include "server/cli/scheduler_options.h"

namespace strata::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Fixed pseudo-random prompts so runs are comparable; no two share a prefix.
std::vector<int32_t> random_prompt(std::mt19937& rng, int32_t length, int32_t vocab) {
  std::uniform_int_distribution<int32_t> any_token(0, vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(length));
  for (auto& t : prompt) t = any_token(rng);
  return prompt;
}

// What the single-sequence and batched benchmarks run: a model's shape and its runners.
struct BenchTarget {
  model::ModelConfig config;
  model::ModelRunnerFactory make_runner;
  size_t cache_groups = 1;  // of the model's attention plan
  std::string device;  // "cpu (N threads)" or "cuda"
};

struct BatchedResult {
  double prefill_seconds = 0.0, decode_seconds = 0.0;
};

// llama-batched-bench's measurement on one runner: B prompts of n_prompt tokens prefilled
// (whole prompts, up to `prefill_tokens` tokens a step), then n_gen decode steps of all B
// sequences at once, each feeding back its greedy pick (made where the runner runs). Blocks a
// compaction empties (evict layers) are marked released, as kvcache would.
BatchedResult run_batched(const BenchTarget& target, int32_t batch, int32_t n_prompt, int32_t n_gen, int32_t prefill_tokens) {
  constexpr int32_t kBlock = 16;
  const int32_t blocks_per_seq = (n_prompt + n_gen + kBlock - 1) / kBlock;
  auto runner = target.make_runner(std::vector<int32_t>(target.cache_groups, batch * blocks_per_seq), kBlock);
  std::mt19937 rng(static_cast<uint32_t>(batch));
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<std::vector<int32_t>>> tables;  // per sequence, per cache group: the same blocks
  for (int32_t i = 0; i < batch; ++i) {
    prompts.push_back(random_prompt(rng, n_prompt, target.config.vocab_size));
    std::vector<int32_t> table(static_cast<size_t>(blocks_per_seq));
    std::iota(table.begin(), table.end(), i * blocks_per_seq);
    tables.emplace_back(target.cache_groups, table);
  }
  auto group_tables = [&](const std::vector<std::vector<int32_t>>& per_group) {
    return std::vector<std::span<const int32_t>>(per_group.begin(), per_group.end());
  };
  auto step = [&](const model::ForwardBatch& work, int32_t first) {
    runner->step(work);
    for (const model::CompactedBlocks& emptied : runner->compacted_blocks()) {
      auto& table = tables[static_cast<size_t>(first + emptied.sequence)][static_cast<size_t>(emptied.group)];
      for (const int32_t b : emptied.logical_blocks) table[static_cast<size_t>(b)] = -1;
    }
  };
  std::vector<int32_t> next(static_cast<size_t>(batch));
  auto greedy_picks = [&](size_t first, size_t count) {
    std::vector<sampling::SamplingRow> rows(count);
    for (size_t i = 0; i < count; ++i) {
      rows[i].logits_row = static_cast<int32_t>(i);
      rows[i].temperature = 0.0f;
    }
    const auto picked = runner->sample(rows);
    for (size_t i = 0; i < count; ++i) next[first + i] = picked[i].token;
  };
  BatchedResult r;
  auto start = std::chrono::steady_clock::now();
  for (int32_t first = 0; first < batch;) {
    model::ForwardBatch work;
    const int32_t begin = first;
    for (int32_t tokens = 0; first < batch && (work.empty() || tokens + n_prompt <= prefill_tokens); ++first, tokens += n_prompt) {
      work.push_back({.tokens = prompts[static_cast<size_t>(first)],
                      .block_tables = group_tables(tables[static_cast<size_t>(first)]),
                      .prompt_tokens = n_prompt});
    }
    step(work, begin);
    greedy_picks(static_cast<size_t>(begin), work.size());
  }
  r.prefill_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (int32_t t = 0; t < n_gen; ++t) {
    model::ForwardBatch work;
    for (int32_t i = 0; i < batch; ++i) {
      work.push_back({.tokens = std::span<const int32_t>(&next[static_cast<size_t>(i)], 1),
                      .start_pos = n_prompt + t,
                      .block_tables = group_tables(tables[static_cast<size_t>(i)]),
                      .prompt_tokens = n_prompt});
    }
    step(work, 0);
    greedy_picks(0, work.size());
  }
  r.decode_seconds = seconds_since(start);
  return r;
}

// One sequence: the best prompt and generation speeds of `reps` runs.
nlohmann::ordered_json bench_single(const BenchTarget& target, int32_t n_prompt, int32_t n_gen, int reps,
                                    int32_t prefill_tokens) {
  double best_pp = 0.0, best_tg = 0.0;
  for (int r = 0; r < reps; ++r) {
    const auto run = run_batched(target, 1, n_prompt, n_gen, std::max(prefill_tokens, n_prompt));
    best_pp = std::max(best_pp, n_prompt / run.prefill_seconds);
    best_tg = std::max(best_tg, n_gen / run.decode_seconds);
  }
  const auto& name = target.config.name;
  std::printf("| model | device | test | tokens/s |\n|---|---|---|---:|\n");
  std::printf("| %s | %s | pp%d | %.1f |\n", name.c_str(), target.device.c_str(), n_prompt, best_pp);
  std::printf("| %s | %s | tg%d | %.1f |\n", name.c_str(), target.device.c_str(), n_gen, best_tg);
  return {{"pp_tokens_per_s", best_pp}, {"tg_tokens_per_s", best_tg}};
}

nlohmann::ordered_json bench_batched(const BenchTarget& target, int32_t batch, int32_t n_prompt, int32_t n_gen,
                                     int32_t prefill_tokens) {
  const auto r = run_batched(target, batch, n_prompt, n_gen, prefill_tokens);
  const double pp = static_cast<double>(batch) * n_prompt / r.prefill_seconds;
  const double tg = static_cast<double>(batch) * n_gen / r.decode_seconds;
  std::printf("| %d | %.1f | %.1f | %.1f |\n", batch, pp, tg,
              static_cast<double>(batch) * (n_prompt + n_gen) / (r.prefill_seconds + r.decode_seconds));
  return {{"batch", batch}, {"pp_tokens_per_s", pp}, {"tg_tokens_per_s", tg}, {"prefill_seconds", r.prefill_seconds},
          {"decode_seconds", r.decode_seconds}};
}

// `requests` requests (at least `concurrency`) queued at once, at most `concurrency` running
// (max_num_seqs), each with n_prompt prompt tokens and exactly n_gen generated ones (ignore_eos),
// greedy.
nlohmann::ordered_json bench_throughput(runtime::LoadedModel& m, scheduler::SchedulerConfig config, int32_t concurrency,
                                        int32_t requests, int32_t n_prompt, int32_t n_gen) {
  requests = std::max(requests, concurrency);
  config.max_num_seqs = concurrency;
  config.max_waiting = std::max(config.max_waiting, requests);
  scheduler::Scheduler s(m, config);
  std::mt19937 rng(static_cast<uint32_t>(concurrency));
  scheduler::GenerationParams params;
  params.sampling.temperature = 0.0f;
  params.max_tokens = n_gen;
  params.ignore_eos = true;
  for (int32_t i = 0; i < requests; ++i) {
    auto result = s.submit({random_prompt(rng, n_prompt, m.model->config().vocab_size), params}, [](const auto&) {});
    if (result.status != scheduler::SubmitStatus::kAccepted) throw UsageError(result.reason);
  }
  const auto start = std::chrono::steady_clock::now();
  while (s.has_work()) s.step();
  const double seconds = seconds_since(start);
  const auto st = s.stats();
  return {{"concurrency", concurrency},
          {"requests", requests},
          {"seconds", seconds},
          {"total_tokens_per_s", static_cast<double>(st.prompt_tokens + st.generated_tokens) / seconds},
          {"generation_tokens_per_s", static_cast<double>(st.generated_tokens) / seconds},
          {"peak_kv_blocks", st.kv_blocks_peak},
          {"kv_blocks", st.kv_blocks_total},
          {"steps", st.steps},
          {"preemptions", st.preemptions}};
}

std::vector<int32_t> parse_levels(const std::string& text, const char* flag) {
  std::vector<int32_t> levels;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096) {
      throw UsageError("invalid value '" + text + "' for " + flag + ": expected a list like 1,4,16");
    }
    levels.push_back(static_cast<int32_t>(v));
  }
  return levels;
}

}  // namespace

int run_bench(const Args& args) {
  ArgParser p("bench");
  p.option("--model", "PATH", "GGUF model file (or --synthetic)");
  p.option("--synthetic", "NAME", "random weights of a named architecture on the GPU: " + synthetic_names());
  p.option("--prompt-tokens", "N", "tokens in each prompt (default 128)");
  p.option("--gen-tokens", "N", "tokens generated after it (default 64)");
  p.option("--repetitions", "R", "single-sequence runs; the best is reported (default 3)");
  p.option("--batch", "LIST", "batched decode on one runner at these batch sizes, e.g. 1,8,64 (as llama-batched-bench)");
  p.option("--concurrency", "LIST", "offline throughput through the scheduler at these numbers of concurrent requests");
  p.option("--requests-per-level", "K", "with --concurrency: K x the level requests per level (default 1)");
  p.option("--threads", "N", "CPU threads, 0 = all (default 0)");
  p.option("--json", "FILE", "also write the results as JSON");
  add_scheduler_options(p);
  add_device_option(p);
  add_attention_option(p);
  if (!p.parse(args)) return 0;
  const auto n_prompt = static_cast<int32_t>(p.get_int("--prompt-tokens", 128, 1, 1 << 16));
  const auto n_gen = static_cast<int32_t>(p.get_int("--gen-tokens", 64, 1, 1 << 16));
  const auto reps = static_cast<int>(p.get_int("--repetitions", 3, 1, 100));
  const auto batches = p.has("--batch") ? parse_levels(p.get_string("--batch"), "--batch") : std::vector<int32_t>{};
  const auto levels = p.has("--concurrency") ? parse_levels(p.get_string("--concurrency"), "--concurrency") : std::vector<int32_t>{};
  const auto per_level = static_cast<int32_t>(p.get_int("--requests-per-level", 1, 1, 1000));
  const auto sched = scheduler_config(p);
  if (p.has("--model") == p.has("--synthetic")) throw UsageError("give exactly one of --model and --synthetic");

  std::optional<runtime::LoadedModel> m;
  BenchTarget target;
  if (p.has("--synthetic")) {
    if (!levels.empty()) throw UsageError("--concurrency runs the scheduler, which needs a model file's vocabulary: use --batch with --synthetic");
    target.config = synthetic_model(p.get_string("--synthetic"));
    const attention::AttentionPlan plan = attention::resolve_attention(attention_layout(p), target.config);
    log_attention_plan(plan);
    target.make_runner = synthetic_runner(p, target.config, plan);
    target.cache_groups = plan.groups.size();
    target.device = "cuda";
  } else {
    m = load_model(p);
    target.device = apply_device_option(p, *m);
    target.config = m->model->config();
    target.cache_groups = m->model->attention_plan().groups.size();
    target.make_runner = m->make_runner;
  }
  if (n_prompt + n_gen > target.config.context_length) throw UsageError("prompt + generated tokens exceed the context length");
  nlohmann::ordered_json out = {{"engine", "strata"},
                                {"model", p.has("--model") ? p.get_string("--model") : "synthetic " + p.get_string("--synthetic")},
                                {"device", target.device},
                                {"prompt_tokens", n_prompt},
                                {"gen_tokens", n_gen}};
  if (!batches.empty()) {
    std::printf("| batch | prefill tok/s | decode tok/s | total tok/s |\n|---:|---:|---:|---:|\n");
    for (int32_t b : batches) out["batched"].push_back(bench_batched(target, b, n_prompt, n_gen, sched.max_num_batched_tokens));
  } else if (!levels.empty()) {
    std::printf("| concurrency | total tok/s | generation tok/s | peak KV blocks | steps | preemptions |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int32_t level : levels) {
      auto r = bench_throughput(*m, sched, level, level * per_level, n_prompt, n_gen);
      std::printf("| %d | %.1f | %.1f | %d / %d | %lld | %lld |\n", level, r["total_tokens_per_s"].get<double>(),
                  r["generation_tokens_per_s"].get<double>(), r["peak_kv_blocks"].get<int>(), r["kv_blocks"].get<int>(),
                  static_cast<long long>(r["steps"].get<int64_t>()), static_cast<long long>(r["preemptions"].get<int64_t>()));
      out["throughput"].push_back(r);
    }
  } else {
    out["repetitions"] = reps;
    out.update(bench_single(target, n_prompt, n_gen, reps, sched.max_num_batched_tokens));
  }
  if (p.has("--json")) std::ofstream(p.get_string("--json")) << out.dump(2) << "\n";
  return 0;
}

}  // namespace strata::cli
