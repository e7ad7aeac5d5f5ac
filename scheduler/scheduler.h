// Iteration-level (continuous) batching. Each step() picks, within a token budget, the decode
// tokens of running sequences and chunks of waiting prompts; asks the KV-cache manager for their
// blocks (preempting the lowest-priority, newest sequences by recompute when blocks run out); runs
// one forward over the ragged batch; samples; checks stop conditions; and delivers events.
//
// Not thread-safe: one thread calls everything (InferenceEngine wraps it for the front ends).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/model/model_runner.h"
#include "engine/runtime/loaded_model.h"
#include "kvcache/kv_cache_manager.h"
#include "scheduler/request.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/sequence.h"

namespace strata::scheduler {

enum class SubmitStatus { kAccepted, kBusy, kInvalid };

struct SubmitResult {
  SubmitStatus status = SubmitStatus::kAccepted;
  uint64_t request_id = 0;  // when accepted
  std::string reason;       // when refused
};

struct SchedulerStats {
  int32_t running_requests = 0;
  int32_t waiting_requests = 0;    // preempted ones included
  bool prefix_cache_enabled = false;  // asked for and possible with the attention layout
  int32_t kv_block_size = 0;      // tokens per block
  // Blocks of the KV cache groups together (a window_kv group's count as much as a paged one's;
  // recurrent-state slots are counted apart, below).
  int32_t kv_blocks_total = 0;
  // The longest sequence the cache can hold alone: the smallest paged_kv group's tokens (a
  // window_kv group holds a sequence of any length); INT64_MAX without a paged group.
  int64_t kv_capacity_tokens = 0;
  int32_t kv_blocks_used = 0;
  int32_t kv_blocks_cached = 0;
  int32_t kv_blocks_peak = 0;
  // Slots of the recurrent_state groups (linear layers: one a sequence), 0 without such layers.
  int32_t state_slots_total = 0;
  int32_t state_slots_used = 0;
  // Bytes of the blocks in use, each group's at its own bytes per block (groups of different
  // layer counts differ), now and at the peak of any step (while its forward runs).
  int64_t kv_bytes_used = 0;
  int64_t kv_bytes_peak = 0;
  double kv_usage = 0.0;
  int64_t prefix_queried_tokens = 0;
  int64_t prefix_hit_tokens = 0;
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;      // computed, cache hits excluded
  int64_t generated_tokens = 0;
  int64_t steps = 0;
};

class Scheduler {
 public:
  // Throws std::invalid_argument for an invalid config. Runs on model.make_runner's runner.
  Scheduler(runtime::LoadedModel& model, const SchedulerConfig& config);

  // Queues a request; events go to `sink`. Refuses invalid requests and, past max_waiting,
  // answers busy. Never throws for bad input.
  SubmitResult submit(Request request, EventSink sink);
  // Ends the request at the next step (its blocks are freed then); unknown ids are ignored.
  void cancel(uint64_t request_id);
  void cancel_all();
  // Ends every request now with FinishReason::kError and `error` (after a failed step).
  void fail_all(const std::string& error);

  bool has_work() const { return !requests_.empty(); }
  // One iteration; returns false when there was nothing to do.
  bool step();

  SchedulerStats stats() const;
  const kvcache::KvCacheManager& kv_cache() const { return kv_; }

 private:
  struct Planned {
    Sequence* sequence;
    int32_t n_tokens;
  };

  void process_cancellations();
  std::vector<Planned> schedule(std::vector<kvcache::CopyOp>& copies);
  // Makes room in the cache for s's next n_tokens, preempting others (or s itself) when blocks
  // are short. False when s was preempted.
  bool reserve(Sequence& s, int32_t n_tokens, std::vector<kvcache::CopyOp>& copies, std::vector<Planned>& plan);
  void preempt(Sequence& s, std::vector<Planned>& plan);
  Sequence* pick_victim() const;
  void run(const std::vector<Planned>& plan, const std::vector<kvcache::CopyOp>& copies);
  // After s computed its last known token: forks waiting siblings, then describes the pick of
  // each (from logits row `row`) into `rows`, its sequence into `pickers`.
  void add_picks(Sequence& s, int32_t row, std::vector<Sequence*>& pickers, std::vector<sampling::SamplingRow>& rows);
  // A token picked for a sequence whose text and event wait for the next step to be queued.
  struct PendingToken {
    Sequence* sequence;
    int32_t token;
    std::optional<StepLogprobs> logprobs;
  };
  // Appends the picked token to s and ends s at a stop token; at its length limit emits it now,
  // else leaves it in pending_.
  void take_token(Sequence& s, const sampling::SampledToken& picked);
  // The token's text through the detokenizer and the stop strings, and its event (ending the
  // sequence on a stop string, or with `last`).
  void emit(const PendingToken& pending, bool last);
  void emit_pending();
  // Ends s: flushes held text into `event`, frees its blocks, delivers the event.
  void finish(Sequence& s, FinishReason reason, SequenceEvent& event, const std::string& error = {});
  void fail_request(RequestState& r, const std::string& error);
  void erase_finished();
  // What total_usage counts: the blocks of the KV cache groups, or the slots of the
  // recurrent_state groups (which are not blocks).
  enum class CacheUnit { kBlocks, kSlots };
  kvcache::GroupUsage total_usage(CacheUnit unit = CacheUnit::kBlocks) const;
  int64_t used_bytes() const;  // blocks (slots) in use at each group's own size
  // The sequence's block table in each cache group (empty for a recurrent_state group), and its
  // slot in the recurrent_state group (-1 without one), for the forward.
  std::vector<std::span<const int32_t>> block_tables(kvcache::SeqId seq) const;
  int32_t state_slot(kvcache::SeqId seq) const;
  // Running (or, with queued, waiting and preempted) sequences in the order they are served:
  // priority, then arrival, then index.
  std::vector<Sequence*> ordered(bool queued) const;

  runtime::LoadedModel& model_;
  SchedulerConfig config_;
  kvcache::KvCacheManager kv_;
  std::unique_ptr<model::ModelRunner> runner_;
  std::unordered_map<uint64_t, std::unique_ptr<RequestState>> requests_;
  uint64_t next_request_id_ = 1;
  kvcache::SeqId next_sequence_id_ = 1;
  uint64_t next_arrival_ = 0;
  int32_t peak_blocks_ = 0;
  int64_t peak_bytes_ = 0;
  int64_t preemptions_ = 0;
  int64_t prompt_tokens_ = 0;
  int64_t generated_tokens_ = 0;
  int64_t steps_ = 0;
  std::vector<int32_t> end_of_generation_;  // masked while a sequence is below min_tokens
  // n > 1 siblings share the prompt's blocks, except where compaction rewrites blocks in place
  // (evicting_kv): there each sibling computes its prompt on its own.
  bool forks_share_blocks_;
  std::vector<PendingToken> pending_;       // picked last step, emitted once this step is queued
};

}  // namespace strata::scheduler
