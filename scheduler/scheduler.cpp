#include "scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "engine/sampling/logprobs.h"

namespace strata::scheduler {
namespace {

// The cache groups of the model's attention plan. The prefix cache serves paged_kv groups only;
// with any other group it is turned off with a warning rather than refused, as vLLM does with a
// default-on feature the model cannot use.
kvcache::KvCacheConfig kv_config(const runtime::LoadedModel& model, const SchedulerConfig& config) {
  const auto& plan = model.model->attention_plan();
  kvcache::KvCacheConfig kv;
  kv.groups = plan.cache_group_specs(config.block_size);
  kv.memory_budget_bytes = config.kv_memory_bytes;
  kv.num_blocks = config.num_kv_blocks;
  kv.typical_sequence_tokens = model.model->config().context_length;
  // A step computes at most this many of a sequence's tokens: window groups take blocks for them
  // step by step, so a long prompt holds sinks + window + one chunk there.
  kv.max_step_tokens = config.max_num_batched_tokens;
  kv.enable_prefix_cache = config.enable_prefix_cache && plan.all_paged();
  if (config.enable_prefix_cache && !kv.enable_prefix_cache) {
    std::string kinds;
    for (const auto& group : plan.groups) {
      const std::string kind(kvcache::to_string(group.kind));
      if (group.kind != kvcache::CacheKind::kPagedKv && kinds.find(kind) == std::string::npos) {
        kinds += (kinds.empty() ? "" : " and ") + kind;
      }
    }
    spdlog::warn("prefix caching is off: {} puts layers in {} cache groups, which it cannot serve",
                 plan.source.empty() ? "the model's attention" : plan.source, kinds);
  }
  return kv;
}

std::vector<int32_t> capacities(const kvcache::KvCacheManager& kv) {
  std::vector<int32_t> blocks;
  for (int g = 0; g < kv.num_groups(); ++g) blocks.push_back(kv.usage(g).capacity);
  return blocks;
}

const SchedulerConfig& validated(const SchedulerConfig& config) {
  if (auto problem = config.validate(); !problem.empty()) throw std::invalid_argument(problem);
  return config;
}

bool runs_before(const Sequence* a, const Sequence* b) {
  const auto key = [](const Sequence* s) {
    return std::tuple(s->request->params.priority, s->request->arrival, s->index);
  };
  return key(a) < key(b);
}

}  // namespace

std::string SchedulerConfig::validate() const {
  if (max_num_batched_tokens < 1) return "max_num_batched_tokens must be at least 1";
  if (max_num_seqs < 1) return "max_num_seqs must be at least 1";
  if (max_waiting < 0) return "max_waiting must not be negative";
  if (block_size < 1 || block_size > 1024) return "block_size must be in [1, 1024]";
  if (num_kv_blocks && *num_kv_blocks < 1) return "num_kv_blocks must be at least 1";
  if (!num_kv_blocks && kv_memory_bytes < 1) return "kv_memory_bytes must be positive";
  return {};
}

Scheduler::Scheduler(runtime::LoadedModel& model, const SchedulerConfig& config)
    : model_(model),
      config_(validated(config)),
      kv_(kv_config(model, config_)),
      runner_(model.make_runner(capacities(kv_), config_.block_size)),
      forks_share_blocks_(!std::ranges::any_of(model.model->attention_plan().groups, [](const auto& group) {
        return group.kind == kvcache::CacheKind::kEvictingKv;
      })) {
  for (int32_t id = 0; id < model_.tokenizer->vocab_size(); ++id) {
    if (model_.tokenizer->is_end_of_generation(id)) end_of_generation_.push_back(id);
  }
}

SubmitResult Scheduler::submit(Request request, EventSink sink) {
  const auto& c = model_.model->config();
  auto invalid = [](std::string reason) { return SubmitResult{SubmitStatus::kInvalid, 0, std::move(reason)}; };
  if (request.prompt.empty()) return invalid("the prompt has no tokens");
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= c.vocab_size) return invalid("token id " + std::to_string(id) + " is outside the vocabulary");
  }
  if (auto problem = request.params.validate(); !problem.empty()) return invalid(problem);
  for (const auto& [id, bias] : request.params.sampling.logit_bias) {
    if (id < 0 || id >= c.vocab_size) return invalid("logit_bias token id " + std::to_string(id) + " is outside the vocabulary");
  }
  const int64_t longest = static_cast<int64_t>(request.prompt.size()) + request.params.max_tokens;
  if (longest > c.context_length) {
    return invalid("prompt (" + std::to_string(request.prompt.size()) + " tokens) plus max_tokens (" +
                   std::to_string(request.params.max_tokens) + ") exceeds the context length " +
                   std::to_string(c.context_length));
  }
  if (!kv_.fits_alone(static_cast<int64_t>(request.prompt.size()), longest)) {
    return invalid("a sequence of " + std::to_string(longest) + " tokens cannot fit in the KV cache (" +
                   std::to_string(total_usage().capacity) + " blocks of " + std::to_string(config_.block_size) +
                   " tokens)");
  }
  int32_t waiting = 0;
  for (const auto& [id, r] : requests_) waiting += is_queued(r->sequences.front()->status);
  if (waiting >= config_.max_waiting) {
    return SubmitResult{SubmitStatus::kBusy, 0, "the waiting queue is full (" + std::to_string(config_.max_waiting) + ")"};
  }

  auto r = std::make_unique<RequestState>();
  r->id = next_request_id_++;
  r->arrival = next_arrival_++;
  r->params = std::move(request.params);
  r->sink = std::move(sink);
  r->usage.prompt_tokens = static_cast<int32_t>(request.prompt.size());
  r->unfinished = r->params.n;
  for (int32_t i = 0; i < r->params.n; ++i) {
    // Each sibling has its own random stream: seed + index when a seed is given.
    sampling::SamplingParams sampling = r->params.sampling;
    if (sampling.seed) sampling.seed = *sampling.seed + static_cast<uint64_t>(i);
    auto s = std::make_unique<Sequence>(next_sequence_id_++, *r, i, request.prompt, sampling, *model_.tokenizer,
                                        r->params.stop);
    s->awaiting_fork = i > 0 && forks_share_blocks_;
    r->sequences.push_back(std::move(s));
  }
  const uint64_t id = r->id;
  requests_.emplace(id, std::move(r));
  return SubmitResult{SubmitStatus::kAccepted, id, {}};
}

void Scheduler::cancel(uint64_t request_id) {
  if (auto it = requests_.find(request_id); it != requests_.end()) it->second->cancel_requested = true;
}

void Scheduler::cancel_all() {
  for (auto& [id, r] : requests_) r->cancel_requested = true;
}

void Scheduler::fail_all(const std::string& error) {
  for (auto& [id, r] : requests_) fail_request(*r, error);
  erase_finished();
}

std::vector<Sequence*> Scheduler::ordered(bool queued) const {
  std::vector<Sequence*> out;
  for (const auto& [id, r] : requests_) {
    for (const auto& s : r->sequences) {
      const bool selected = queued ? is_queued(s->status) : s->status == SequenceStatus::kRunning;
      if (selected && !s->awaiting_fork) out.push_back(s.get());
    }
  }
  std::sort(out.begin(), out.end(), runs_before);
  return out;
}

bool Scheduler::step() {
  process_cancellations();
  erase_finished();
  if (requests_.empty()) return false;
  std::vector<kvcache::CopyOp> copies;
  auto plan = schedule(copies);
  if (plan.empty()) {
    emit_pending();
    // Nothing could be placed although nothing runs: the head of the queue cannot be admitted.
    // submit() checks that every request fits alone, so this only guards against a livelock.
    auto waiting = ordered(/*queued=*/true);
    if (!waiting.empty()) fail_request(*waiting.front()->request, "the KV cache cannot hold this request");
    erase_finished();
    return true;
  }
  // The peak is what the forward runs with: every block of the step's tokens held, before its
  // commits release what left a window and its compactions what they emptied.
  peak_blocks_ = std::max(peak_blocks_, total_usage().used);
  peak_bytes_ = std::max(peak_bytes_, used_bytes());
  run(plan, copies);
  ++steps_;
  erase_finished();
  return true;
}

std::vector<Scheduler::Planned> Scheduler::schedule(std::vector<kvcache::CopyOp>& copies) {
  std::vector<Planned> plan;
  int32_t budget = config_.max_num_batched_tokens;
  auto room = [&] { return budget > 0 && static_cast<int32_t>(plan.size()) < config_.max_num_seqs; };

  for (Sequence* s : ordered(/*queued=*/false)) {
    if (s->status != SequenceStatus::kRunning) continue;  // preempted earlier in this loop
    if (!room()) break;
    const auto n = static_cast<int32_t>(std::min<int64_t>(static_cast<int64_t>(s->tokens.size()) - s->num_computed, budget));
    if (!reserve(*s, n, copies, plan)) continue;
    plan.push_back({s, n});
    budget -= n;
  }
  for (Sequence* s : ordered(/*queued=*/true)) {
    if (!room()) break;
    auto cached = kv_.allocate(s->id, s->tokens);
    if (!cached) break;  // FCFS within priority: nobody behind it jumps the queue
    s->status = SequenceStatus::kRunning;
    s->num_computed = static_cast<int32_t>(*cached);
    if (s->preemptions == 0) s->request->usage.cached_prompt_tokens += static_cast<int32_t>(*cached);
    const auto n = static_cast<int32_t>(std::min<int64_t>(static_cast<int64_t>(s->tokens.size()) - s->num_computed, budget));
    plan.push_back({s, n});
    budget -= n;
  }
  return plan;
}

bool Scheduler::reserve(Sequence& s, int32_t n_tokens, std::vector<kvcache::CopyOp>& copies, std::vector<Planned>& plan) {
  const int64_t need = s.num_computed + n_tokens - kv_.num_tokens(s.id);
  if (need <= 0) return true;
  while (!kv_.can_append(s.id, need)) {
    Sequence* victim = pick_victim();
    preempt(*victim, plan);
    if (victim == &s) return false;
  }
  if (!kv_.append(s.id, need, copies)) throw std::logic_error("scheduler: append failed after can_append");
  return true;
}

Sequence* Scheduler::pick_victim() const {
  auto running = ordered(/*queued=*/false);
  return running.back();  // the lowest priority, newest
}

void Scheduler::preempt(Sequence& s, std::vector<Planned>& plan) {
  kv_.free(s.id);
  s.status = SequenceStatus::kPreempted;
  s.num_computed = 0;
  ++s.preemptions;
  ++s.request->usage.preemptions;
  ++preemptions_;
  std::erase_if(plan, [&](const Planned& p) { return p.sequence == &s; });
}

void Scheduler::run(const std::vector<Planned>& plan, const std::vector<kvcache::CopyOp>& copies) {
  for (const auto& copy : copies) runner_->copy_kv_block(copy.group, copy.src, copy.dst);
  model::ForwardBatch batch;
  for (const auto& p : plan) {
    const Sequence& s = *p.sequence;
    const bool completes = s.num_computed + p.n_tokens == static_cast<int32_t>(s.tokens.size());
    batch.push_back({.tokens = std::span<const int32_t>(s.tokens).subspan(static_cast<size_t>(s.num_computed),
                                                                          static_cast<size_t>(p.n_tokens)),
                     .start_pos = s.num_computed,
                     .block_tables = block_tables(s.id),
                     .logits = completes ? model::LogitsWanted::kLast : model::LogitsWanted::kNone,
                     .state_slot = state_slot(s.id),
                     .prompt_tokens = s.num_prompt});
  }
  runner_->step(batch);
  const std::vector<model::CompactedBlocks> compacted = runner_->compacted_blocks();
  // While the device runs the step: the previous step's text, stop strings and events. A stop
  // string may end a sequence this step computes for; its result is dropped.
  emit_pending();
  std::vector<Sequence*> pickers;
  std::vector<sampling::SamplingRow> rows;
  int32_t row = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& s = *plan[i].sequence;
    const bool wants_logits = batch[i].logits == model::LogitsWanted::kLast;
    if (is_done(s.status)) {
      row += wants_logits ? 1 : 0;
      continue;
    }
    kv_.commit(s.id, batch[i].tokens);
    for (const model::CompactedBlocks& emptied : compacted) {
      if (emptied.sequence == static_cast<int32_t>(i)) kv_.release_compacted(s.id, emptied.group, emptied.logical_blocks);
    }
    prompt_tokens_ += std::max(0, std::min(s.num_prompt, s.num_computed + plan[i].n_tokens) - s.num_computed);
    s.num_computed += plan[i].n_tokens;
    if (wants_logits) add_picks(s, row++, pickers, rows);
  }
  if (rows.empty()) return;
  const auto picked = runner_->sample(rows);
  for (size_t i = 0; i < pickers.size(); ++i) take_token(*pickers[i], picked[i]);
}

void Scheduler::add_picks(Sequence& s, int32_t row, std::vector<Sequence*>& pickers, std::vector<sampling::SamplingRow>& rows) {
  std::vector<Sequence*> targets = {&s};
  for (auto& sibling : s.request->sequences) {
    if (!sibling->awaiting_fork) continue;
    // The sibling shares the prompt's blocks and picks from the same logits.
    std::vector<kvcache::CopyOp> copies;
    sibling->awaiting_fork = false;
    if (kv_.fork(s.id, sibling->id, copies)) {
      for (const auto& copy : copies) runner_->copy_kv_block(copy.group, copy.src, copy.dst);
      sibling->status = SequenceStatus::kRunning;
      sibling->num_computed = s.num_computed;
      targets.push_back(sibling.get());
    }  // else it waits and is admitted on its own, through the prefix cache
  }
  for (Sequence* target : targets) {
    const auto& p = target->request->params;
    std::vector<int32_t> banned;
    if (target->num_generated() < p.min_tokens) {
      banned = end_of_generation_;
      for (int32_t id : p.stop_token_ids) {
        if (id >= 0 && id < model_.model->config().vocab_size) banned.push_back(id);
      }
    }
    rows.push_back(target->sampler.next_row(row, banned, p.logprobs));
    pickers.push_back(target);
  }
}

void Scheduler::take_token(Sequence& s, const sampling::SampledToken& picked) {
  RequestState& r = *s.request;
  const auto& p = r.params;
  const int32_t token = picked.token;
  s.sampler.accept(token);
  s.tokens.push_back(token);
  ++generated_tokens_;
  ++r.usage.completion_tokens;
  const bool stop_token = (!p.ignore_eos && model_.tokenizer->is_end_of_generation(token)) ||
                          std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end();
  if (stop_token) {
    SequenceEvent event;
    event.request_id = r.id;
    event.index = s.index;
    finish(s, FinishReason::kStop, event);
    return;
  }
  PendingToken pending{&s, token, std::nullopt};
  if (p.logprobs >= 0) {
    pending.logprobs = StepLogprobs{{picked.chosen.token, picked.chosen.logprob}, {}};
    for (const auto& e : picked.top) pending.logprobs->top.push_back({e.token, e.logprob});
  }
  const bool at_length = s.num_generated() >= p.max_tokens ||
                         static_cast<int32_t>(s.tokens.size()) >= model_.model->config().context_length;
  if (at_length) {
    emit(pending, /*last=*/true);
  } else {
    pending_.push_back(std::move(pending));  // its text is made while the next step runs
  }
}

void Scheduler::emit(const PendingToken& pending, bool last) {
  Sequence& s = *pending.sequence;
  SequenceEvent event;
  event.request_id = s.request->id;
  event.index = s.index;
  event.tokens.push_back(pending.token);
  if (pending.logprobs) event.logprobs.push_back(*pending.logprobs);
  auto matched = s.stop_strings.push(s.detokenizer.push(pending.token));
  event.text = std::move(matched.emit);
  if (matched.stopped) {
    finish(s, FinishReason::kStop, event);
  } else if (last) {
    finish(s, FinishReason::kLength, event);
  } else {
    s.request->sink(event);
  }
}

void Scheduler::emit_pending() {
  for (const auto& pending : pending_) {
    if (!is_done(pending.sequence->status)) emit(pending, /*last=*/false);
  }
  pending_.clear();
}

void Scheduler::finish(Sequence& s, FinishReason reason, SequenceEvent& event, const std::string& error) {
  RequestState& r = *s.request;
  if (reason != FinishReason::kCancelled && reason != FinishReason::kError && !s.stop_strings.stopped()) {
    // The end of the stream: text the detokenizer or the stop-string matcher still holds.
    auto tail = s.stop_strings.push(s.detokenizer.flush());
    event.text += tail.emit;
    if (!tail.stopped) event.text += s.stop_strings.flush();
  }
  if (kv_.contains(s.id)) kv_.free(s.id);
  s.status = reason == FinishReason::kCancelled ? SequenceStatus::kCancelled : SequenceStatus::kFinished;
  s.awaiting_fork = false;
  event.finish = reason;
  event.error = error;
  if (--r.unfinished == 0) event.usage = r.usage;
  r.sink(event);
}

void Scheduler::fail_request(RequestState& r, const std::string& error) {
  for (auto& s : r.sequences) {
    if (is_done(s->status)) continue;
    SequenceEvent event;
    event.request_id = r.id;
    event.index = s->index;
    finish(*s, FinishReason::kError, event, error);
  }
}

void Scheduler::process_cancellations() {
  for (auto& [id, r] : requests_) {
    if (!r->cancel_requested) continue;
    for (auto& s : r->sequences) {
      if (is_done(s->status)) continue;
      SequenceEvent event;
      event.request_id = r->id;
      event.index = s->index;
      finish(*s, FinishReason::kCancelled, event);
    }
  }
}

void Scheduler::erase_finished() {
  std::erase_if(requests_, [](const auto& entry) { return entry.second->unfinished == 0; });
}

kvcache::GroupUsage Scheduler::total_usage(CacheUnit unit) const {
  kvcache::GroupUsage total;
  for (int g = 0; g < kv_.num_groups(); ++g) {
    const bool slots = kv_.group_spec(g).kind == kvcache::CacheKind::kRecurrentState;
    if (slots != (unit == CacheUnit::kSlots)) continue;
    const auto usage = kv_.usage(g);
    total.capacity += usage.capacity;
    total.used += usage.used;
    total.free += usage.free;
    total.cached += usage.cached;
    total.promised += usage.promised;
  }
  return total;
}

int64_t Scheduler::used_bytes() const {
  int64_t bytes = 0;
  for (int g = 0; g < kv_.num_groups(); ++g) {
    bytes += int64_t{kv_.usage(g).used} * kv_.group_spec(g).bytes_per_unit();
  }
  return bytes;
}

std::vector<std::span<const int32_t>> Scheduler::block_tables(kvcache::SeqId seq) const {
  std::vector<std::span<const int32_t>> tables;
  for (int g = 0; g < kv_.num_groups(); ++g) {
    const bool state = kv_.group_spec(g).kind == kvcache::CacheKind::kRecurrentState;
    tables.push_back(state ? std::span<const int32_t>() : kv_.block_table(seq, g));
  }
  return tables;
}

int32_t Scheduler::state_slot(kvcache::SeqId seq) const {
  for (int g = 0; g < kv_.num_groups(); ++g) {
    if (kv_.group_spec(g).kind == kvcache::CacheKind::kRecurrentState) return kv_.state_slot(seq, g);
  }
  return -1;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats st;
  for (const auto& [id, r] : requests_) {
    const bool running = std::any_of(r->sequences.begin(), r->sequences.end(),
                                     [](const auto& s) { return s->status == SequenceStatus::kRunning; });
    (running ? st.running_requests : st.waiting_requests) += 1;
  }
  const auto usage = total_usage();
  st.prefix_cache_enabled = kv_.prefix_cache_enabled();
  st.kv_block_size = config_.block_size;
  st.kv_blocks_total = usage.capacity;
  st.kv_capacity_tokens = std::numeric_limits<int64_t>::max();
  for (int g = 0; g < kv_.num_groups(); ++g) {
    if (kv_.group_spec(g).kind != kvcache::CacheKind::kPagedKv) continue;
    st.kv_capacity_tokens = std::min(st.kv_capacity_tokens, int64_t{kv_.usage(g).capacity} * config_.block_size);
  }
  st.kv_blocks_used = usage.used;
  st.kv_blocks_cached = usage.cached;
  st.kv_blocks_peak = peak_blocks_;
  const auto slots = total_usage(CacheUnit::kSlots);
  st.state_slots_total = slots.capacity;
  st.state_slots_used = slots.used;
  st.kv_bytes_used = used_bytes();
  st.kv_bytes_peak = peak_bytes_;
  st.kv_usage = kv_.usage_fraction();
  const auto prefix = kv_.prefix_cache_counters();
  st.prefix_queried_tokens = prefix.queried_tokens;
  st.prefix_hit_tokens = prefix.hit_tokens;
  st.preemptions = preemptions_;
  st.prompt_tokens = prompt_tokens_;
  st.generated_tokens = generated_tokens_;
  st.steps = steps_;
  return st;
}

}  // namespace strata::scheduler
