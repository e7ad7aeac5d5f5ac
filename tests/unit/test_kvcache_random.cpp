// Thousands of seeded random operation sequences (allocate with shared prefixes, commit in
// chunks, append, fork, finish, cancel, compact; window blocks taken step by step in one
// scenario) against KvCacheManager, with an oracle of the
// tokens the simulated engine wrote into every block, and of the context they were computed in
// (KV depends on every token before it, not only on the block's own). After every operation:
//   - check_invariants() holds;
//   - every position a live sequence may still read holds what that sequence wrote there
//     (copy-on-write, sharing and eviction never clobber a reader);
//   - a write only lands in a block no other sequence references;
//   - failed operations change nothing.
// Every prefix hit is checked against the oracle, including under a hasher that collides on
// purpose. Each sequence of operations ends with everything freed and usage back to zero.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvcache/kv_cache_manager.h"

namespace strata::kvcache {
namespace {

constexpr int kSequencesPerScenario = 1000;
constexpr int kOperationsPerSequence = 60;
constexpr TokenId kVocabulary = 4;  // few distinct tokens: equal blocks and collisions are common
constexpr TokenId kUnwritten = -1;

// Collides constantly: ignores the parent and the extra key, looks at one bit of one token.
BlockHash one_bit_hash(const BlockHash&, std::span<const TokenId> tokens, std::string_view) {
  BlockHash hash{};
  hash[0] = static_cast<uint8_t>(tokens[0] & 1);
  return hash;
}

struct Scenario {
  std::string name;
  KvCacheConfig config;
  BlockHasher hasher = sha256_block_hash;
};

Scenario paged_scenario(std::string name, BlockHasher hasher) {
  Scenario scenario{std::move(name), {}, std::move(hasher)};
  scenario.config.groups = {CacheGroupSpec{.kind = CacheKind::kPagedKv, .block_size = 4, .bytes_per_token = 64}};
  scenario.config.num_blocks = 24;
  return scenario;
}

std::vector<Scenario> scenarios() {
  Scenario two_groups = paged_scenario("two paged groups", sha256_block_hash);
  two_groups.config.groups.push_back(
      CacheGroupSpec{.kind = CacheKind::kPagedKv, .block_size = 4, .bytes_per_token = 16});
  Scenario hybrid{"paged + window + state", {}, sha256_block_hash};
  hybrid.config.groups = {
      CacheGroupSpec{.kind = CacheKind::kPagedKv, .block_size = 4, .bytes_per_token = 64},
      CacheGroupSpec{
          .kind = CacheKind::kWindowKv, .block_size = 2, .bytes_per_token = 64, .window_tokens = 6, .sink_tokens = 2},
      CacheGroupSpec{.kind = CacheKind::kRecurrentState, .bytes_per_sequence = 4096},
  };
  hybrid.config.num_blocks = 24;
  hybrid.config.enable_prefix_cache = false;
  // Steps of at most 5 tokens: the window group takes blocks step by step and promises the rest.
  Scenario stepwise = hybrid;
  stepwise.name = "paged + window + state, 5-token steps";
  stepwise.config.max_step_tokens = 5;
  // evicting_kv forbids forks, so it has a scenario of its own.
  Scenario evicting{"paged + evicting", {}, sha256_block_hash};
  evicting.config.groups = {
      CacheGroupSpec{.kind = CacheKind::kPagedKv, .block_size = 4, .bytes_per_token = 64},
      CacheGroupSpec{.kind = CacheKind::kEvictingKv, .block_size = 4, .bytes_per_token = 64, .token_budget = 8},
  };
  evicting.config.num_blocks = 24;
  evicting.config.enable_prefix_cache = false;
  return {paged_scenario("paged", sha256_block_hash), paged_scenario("paged, colliding hash", one_bit_hash), two_groups,
          hybrid, stepwise, evicting};
}

// Forks share blocks, which evicting_kv forbids.
bool allows_forks(const KvCacheConfig& config) {
  return std::ranges::none_of(config.groups,
                              [](const CacheGroupSpec& spec) { return spec.kind == CacheKind::kEvictingKv; });
}

// What the simulated engine knows of a live sequence.
struct LiveSequence {
  std::vector<TokenId> tokens;          // one per reserved position
  std::vector<int32_t> contexts = {0};  // contexts[p]: the id of tokens [0, p); 0 is the empty prefix
  int64_t committed = 0;
  std::string extra_key;
};

struct Coverage {
  int64_t hit_tokens = 0;
  int64_t failed_allocations = 0;
  int64_t copies = 0;
  int64_t promised_blocks = 0;  // summed after each admission
};

class Harness {
 public:
  Harness(const Scenario& scenario, uint64_t seed, Coverage& coverage)
      : kv_(scenario.config, scenario.hasher),
        forks_allowed_(allows_forks(scenario.config)),
        max_step_(scenario.config.max_step_tokens.value_or(std::numeric_limits<int64_t>::max())),
        rng_(seed),
        coverage_(coverage) {
    for (int g = 0; g < kv_.num_groups(); ++g) {
      const CacheGroupSpec& spec = kv_.group_spec(g);
      const size_t units = kv_.usage(g).capacity;
      written_.emplace_back(units, std::vector<TokenId>(spec.block_size, kUnwritten));
      written_context_.emplace_back(units, kUnwritten);
      written_extra_.emplace_back(units);
    }
    for (auto& document : documents_) document = random_tokens(24);
  }

  // Returns false at the first failure, which the caller's trace names.
  bool run() {
    for (int op = 0; op < kOperationsPerSequence; ++op) {
      random_operation();
      if (::testing::Test::HasFailure() || !invariants_hold()) return false;
    }
    while (!live_.empty()) {
      kv_.free(live_.begin()->first);
      live_.erase(live_.begin());
      if (!invariants_hold()) return false;
    }
    for (int g = 0; g < kv_.num_groups(); ++g) EXPECT_EQ(kv_.usage(g).used, 0) << "group " << g;
    EXPECT_EQ(kv_.usage_fraction(), 0.0);
    return !::testing::Test::HasFailure();
  }

 private:
  int64_t uniform(int64_t low, int64_t high) { return std::uniform_int_distribution<int64_t>(low, high)(rng_); }

  std::vector<TokenId> random_tokens(int64_t count) {
    std::vector<TokenId> tokens(count);
    for (TokenId& token : tokens) token = static_cast<TokenId>(uniform(0, kVocabulary - 1));
    return tokens;
  }

  // A random live sequence that satisfies `wanted`, or live_.end().
  template <typename Predicate>
  std::map<SeqId, LiveSequence>::iterator pick(Predicate wanted) {
    std::vector<std::map<SeqId, LiveSequence>::iterator> candidates;
    for (auto it = live_.begin(); it != live_.end(); ++it) {
      if (wanted(it->second)) candidates.push_back(it);
    }
    if (candidates.empty()) return live_.end();
    return candidates[uniform(0, static_cast<int64_t>(candidates.size()) - 1)];
  }

  void random_operation() {
    const int64_t roll = uniform(0, 99);
    const auto any = [](const LiveSequence&) { return true; };
    const auto uncommitted = [](const LiveSequence& s) { return s.committed < static_cast<int64_t>(s.tokens.size()); };
    const auto fully_committed = [](const LiveSequence& s) {
      return s.committed == static_cast<int64_t>(s.tokens.size());
    };
    if (roll < 25) return allocate();
    if (roll < 50) return commit(pick(uncommitted));
    if (roll < 70) return append(pick(any));
    if (roll < 78) return fork(pick(fully_committed));
    if (roll < 90) return free(pick(any));          // finished
    if (roll < 95) return free(pick(uncommitted));  // cancelled or preempted mid-prefill
    return release_compacted(pick(any));
  }

  void allocate() {
    const std::vector<TokenId>& document = documents_[uniform(0, documents_.size() - 1)];
    std::vector<TokenId> prompt(document.begin(), document.begin() + uniform(0, document.size()));
    const std::vector<TokenId> tail = random_tokens(uniform(prompt.empty() ? 1 : 0, 8));
    prompt.insert(prompt.end(), tail.begin(), tail.end());
    const std::string extra_key = uniform(0, 3) == 0 ? "tenant-b" : "";

    const SeqId seq = next_seq_++;
    const std::vector<GroupUsage> usage_before = usages();
    const PrefixCacheCounters counters_before = kv_.prefix_cache_counters();
    const std::optional<int64_t> cached = kv_.allocate(seq, prompt, extra_key);
    if (!cached) {
      ++coverage_.failed_allocations;
      EXPECT_FALSE(kv_.contains(seq));
      expect_unchanged(usage_before);
      EXPECT_EQ(kv_.prefix_cache_counters().hit_tokens, counters_before.hit_tokens);
      EXPECT_EQ(kv_.prefix_cache_counters().queried_tokens, counters_before.queried_tokens);
      return;
    }
    EXPECT_LT(*cached, static_cast<int64_t>(prompt.size()));
    LiveSequence& s = live_[seq];
    extend(s, prompt);
    s.committed = *cached;
    s.extra_key = extra_key;
    // The shared blocks hold what this prompt would have written there itself.
    for (int g = 0; g < kv_.num_groups(); ++g) {
      if (kv_.group_spec(g).kind == CacheKind::kRecurrentState) continue;
      EXPECT_EQ(*cached % kv_.group_spec(g).block_size, 0);
      const std::span<const BlockId> table = kv_.block_table(seq, g);
      for (int64_t position = 0; position < *cached; ++position) {
        EXPECT_TRUE(holds(g, table[position / kv_.group_spec(g).block_size], s, position))
            << "group " << g << " position " << position << " is another prompt's";
      }
    }
    coverage_.hit_tokens += *cached;
    for (int g = 0; g < kv_.num_groups(); ++g) coverage_.promised_blocks += kv_.usage(g).promised;
  }

  void commit(std::map<SeqId, LiveSequence>::iterator it) {
    if (it == live_.end()) return;
    LiveSequence& s = it->second;
    const int64_t count = uniform(1, std::min(static_cast<int64_t>(s.tokens.size()) - s.committed, max_step_));
    const std::span<const TokenId> tokens = std::span(s.tokens).subspan(s.committed, count);
    write(it->first, s.committed, tokens);
    kv_.commit(it->first, tokens);
    s.committed += count;
  }

  // The engine's forward: KV for `tokens` at positions from `start`, in every KV group.
  void write(SeqId seq, int64_t start, std::span<const TokenId> tokens) {
    for (int g = 0; g < kv_.num_groups(); ++g) {
      if (kv_.group_spec(g).kind == CacheKind::kRecurrentState) continue;
      const int32_t block_size = kv_.group_spec(g).block_size;
      std::set<BlockId> others;
      for (const auto& [other, s] : live_) {
        if (other == seq) continue;
        for (const BlockId block : kv_.block_table(other, g)) others.insert(block);
      }
      const std::span<const BlockId> table = kv_.block_table(seq, g);
      for (size_t i = 0; i < tokens.size(); ++i) {
        const int64_t position = start + static_cast<int64_t>(i);
        const BlockId block = table[position / block_size];
        ASSERT_NE(block, kNoBlock) << "group " << g << " position " << position << " has no block to write";
        ASSERT_FALSE(others.contains(block)) << "group " << g << " block " << block << " is shared but written";
        written_[g][block][position % block_size] = tokens[i];
        written_context_[g][block] = live_.at(seq).contexts[position - position % block_size];
        written_extra_[g][block] = live_.at(seq).extra_key;
      }
    }
  }

  void append(std::map<SeqId, LiveSequence>::iterator it) {
    if (it == live_.end()) return;
    // One step writes at most max_step_ tokens past the committed ones.
    const int64_t room = it->second.committed + max_step_ - static_cast<int64_t>(it->second.tokens.size());
    if (room < 1) return;
    const int64_t n = uniform(1, std::min<int64_t>(6, room));
    const std::vector<GroupUsage> usage_before = usages();
    const bool expected = kv_.can_append(it->first, n);
    std::vector<CopyOp> copies;
    ASSERT_EQ(kv_.append(it->first, n, copies), expected);
    if (!expected) {
      EXPECT_TRUE(copies.empty());
      EXPECT_EQ(kv_.num_tokens(it->first), static_cast<int64_t>(it->second.tokens.size()));
      expect_unchanged(usage_before);
      return;
    }
    perform(copies);
    extend(it->second, random_tokens(n));
  }

  void fork(std::map<SeqId, LiveSequence>::iterator it) {
    if (it == live_.end() || !forks_allowed_) return;
    const SeqId child = next_seq_++;
    const std::vector<GroupUsage> usage_before = usages();
    std::vector<CopyOp> copies;
    if (!kv_.fork(it->first, child, copies)) {
      EXPECT_FALSE(kv_.contains(child));
      expect_unchanged(usage_before);
      return;
    }
    perform(copies);
    live_.emplace(child, it->second);
  }

  void free(std::map<SeqId, LiveSequence>::iterator it) {
    if (it == live_.end()) return;
    kv_.free(it->first);
    live_.erase(it);
  }

  void release_compacted(std::map<SeqId, LiveSequence>::iterator it) {
    if (it == live_.end()) return;
    for (int g = 0; g < kv_.num_groups(); ++g) {
      if (kv_.group_spec(g).kind != CacheKind::kEvictingKv) continue;
      const std::span<const BlockId> table = kv_.block_table(it->first, g);
      std::vector<int32_t> compacted;
      for (int32_t b = 0; b < it->second.committed / kv_.group_spec(g).block_size; ++b) {
        if (table[b] != kNoBlock && uniform(0, 2) == 0) compacted.push_back(b);
      }
      kv_.release_compacted(it->first, g, compacted);
    }
  }

  void perform(const std::vector<CopyOp>& copies) {
    for (const CopyOp& copy : copies) {
      ++coverage_.copies;
      if (kv_.group_spec(copy.group).kind == CacheKind::kRecurrentState) continue;
      written_[copy.group][copy.dst] = written_[copy.group][copy.src];
      written_context_[copy.group][copy.dst] = written_context_[copy.group][copy.src];
      written_extra_[copy.group][copy.dst] = written_extra_[copy.group][copy.src];
    }
  }

  std::vector<GroupUsage> usages() const {
    std::vector<GroupUsage> result;
    for (int g = 0; g < kv_.num_groups(); ++g) result.push_back(kv_.usage(g));
    return result;
  }

  void expect_unchanged(const std::vector<GroupUsage>& before) const {
    for (int g = 0; g < kv_.num_groups(); ++g) {
      const GroupUsage now = kv_.usage(g);
      EXPECT_EQ(now.used, before[g].used) << "group " << g;
      EXPECT_EQ(now.free, before[g].free) << "group " << g;
      EXPECT_EQ(now.cached, before[g].cached) << "group " << g;
      EXPECT_EQ(now.promised, before[g].promised) << "group " << g;
    }
  }

  // Whether the next token of a sequence with `committed` tokens may read `position`.
  static bool must_hold(const CacheGroupSpec& spec, int64_t position, int64_t committed) {
    switch (spec.kind) {
      case CacheKind::kPagedKv: return true;
      case CacheKind::kWindowKv: return position < spec.sink_tokens || position >= committed - spec.window_tokens;
      case CacheKind::kEvictingKv: return false;  // the engine decides what it compacts away
      case CacheKind::kRecurrentState: return false;
    }
    return false;
  }

  bool invariants_hold() {
    try {
      kv_.check_invariants();
    } catch (const std::logic_error& violation) {
      ADD_FAILURE() << violation.what();
      return false;
    }
    for (const auto& [seq, s] : live_) {
      for (int g = 0; g < kv_.num_groups(); ++g) {
        const CacheGroupSpec& spec = kv_.group_spec(g);
        if (spec.kind == CacheKind::kRecurrentState) continue;
        const std::span<const BlockId> table = kv_.block_table(seq, g);
        for (int64_t position = 0; position < s.committed; ++position) {
          const BlockId block = table[position / spec.block_size];
          if (block == kNoBlock) {
            EXPECT_FALSE(must_hold(spec, position, s.committed)) << "sequence " << seq << " lost position " << position;
          } else {
            EXPECT_TRUE(holds(g, block, s, position))
                << "sequence " << seq << " group " << g << " position " << position << " was overwritten";
          }
        }
      }
    }
    return !::testing::Test::HasFailure();
  }

  // Appends tokens to a sequence, giving each new prefix its context id.
  void extend(LiveSequence& s, std::span<const TokenId> tokens) {
    for (const TokenId token : tokens) {
      s.tokens.push_back(token);
      const auto [it, inserted] = context_children_.try_emplace({s.contexts.back(), token}, next_context_);
      next_context_ += inserted ? 1 : 0;
      s.contexts.push_back(it->second);
    }
  }

  // Whether `block` of group g holds what sequence `s` wrote at `position`: the same token,
  // computed after the same tokens, under the same extra key.
  bool holds(int g, BlockId block, const LiveSequence& s, int64_t position) const {
    const int32_t block_size = kv_.group_spec(g).block_size;
    return written_[g][block][position % block_size] == s.tokens[position] &&
           written_context_[g][block] == s.contexts[position - position % block_size] &&
           written_extra_[g][block] == s.extra_key;
  }

  KvCacheManager kv_;
  bool forks_allowed_;
  int64_t max_step_;  // tokens one step writes at most
  std::mt19937_64 rng_;
  Coverage& coverage_;
  std::array<std::vector<TokenId>, 3> documents_;  // prompts start with a prefix of one of these
  std::map<SeqId, LiveSequence> live_;
  SeqId next_seq_ = 0;
  std::vector<std::vector<std::vector<TokenId>>> written_;  // [group][block][slot in block]
  std::vector<std::vector<int32_t>> written_context_;       // [group][block]: context of its first position
  std::vector<std::vector<std::string>> written_extra_;     // [group][block]: the writer's extra key
  // Context ids: a trie over token sequences, so equal prefixes, and only they, share an id.
  std::map<std::pair<int32_t, TokenId>, int32_t> context_children_;
  int32_t next_context_ = 1;
};

TEST(KvCacheRandomized, InvariantsHoldAndUsageReturnsToZero) {
  for (const Scenario& scenario : scenarios()) {
    Coverage coverage;
    for (int i = 0; i < kSequencesPerScenario; ++i) {
      const uint64_t seed = 1000003ULL * i + 17;
      SCOPED_TRACE("scenario '" + scenario.name + "', seed " + std::to_string(seed));
      Harness harness(scenario, seed, coverage);
      if (!harness.run()) return;
    }
    // The operations reached the paths they are meant to test.
    SCOPED_TRACE("scenario '" + scenario.name + "'");
    EXPECT_GT(coverage.failed_allocations, 0);
    if (allows_forks(scenario.config)) {
      EXPECT_GT(coverage.copies, 0);
    }
    if (scenario.config.enable_prefix_cache) {
      EXPECT_GT(coverage.hit_tokens, 0);
    }
    if (scenario.config.max_step_tokens) {
      EXPECT_GT(coverage.promised_blocks, 0);
    }
  }
}

}  // namespace
}  // namespace strata::kvcache
