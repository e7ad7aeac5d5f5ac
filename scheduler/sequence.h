// One sequence the scheduler runs: a request's prompt and the tokens sampled after it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/sampling/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvcache/ids.h"
#include "scheduler/request.h"
#include "scheduler/stop_strings.h"

namespace strata::scheduler {

struct RequestState;

enum class SequenceStatus {
  kWaiting,    // queued, never run
  kRunning,    // holds KV blocks
  kPreempted,  // its blocks were taken back; queued again, to be recomputed
  kFinished,   // stopped by a stop condition, the length limit or an error
  kCancelled,  // ended by cancel() (or shutdown)
};

inline bool is_queued(SequenceStatus s) { return s == SequenceStatus::kWaiting || s == SequenceStatus::kPreempted; }
inline bool is_done(SequenceStatus s) { return s == SequenceStatus::kFinished || s == SequenceStatus::kCancelled; }

struct Sequence {
  Sequence(kvcache::SeqId id_, RequestState& request_, int32_t index_, std::vector<int32_t> tokens_,
           const sampling::SamplingParams& sampling, const tokenizer::Tokenizer& tok, std::vector<std::string> stops)
      : id(id_),
        request(&request_),
        index(index_),
        tokens(std::move(tokens_)),
        num_prompt(static_cast<int32_t>(tokens.size())),
        sampler(sampling, tokens),
        detokenizer(tok),
        stop_strings(std::move(stops)) {}

  kvcache::SeqId id;
  RequestState* request;
  int32_t index;                      // which of the request's n sequences
  std::vector<int32_t> tokens;        // prompt, then sampled tokens
  int32_t num_prompt;
  int32_t num_computed = 0;           // tokens whose KV is in the cache
  SequenceStatus status = SequenceStatus::kWaiting;
  bool awaiting_fork = false;         // a sibling (n > 1) that will share the first one's prompt KV
  int32_t preemptions = 0;
  sampling::Sampler sampler;          // carries penalties and the random stream across preemptions
  tokenizer::IncrementalDetokenizer detokenizer;
  StopStringMatcher stop_strings;

  int32_t num_generated() const { return static_cast<int32_t>(tokens.size()) - num_prompt; }
};

// A request in flight: its sequences (n of them once the prompt is computed) and where its
// events go.
struct RequestState {
  uint64_t id = 0;
  uint64_t arrival = 0;  // FCFS order within a priority
  GenerationParams params;
  EventSink sink;
  std::vector<std::unique_ptr<Sequence>> sequences;
  int32_t unfinished = 0;
  bool cancel_requested = false;
  Usage usage;
};

}  // namespace strata::scheduler
