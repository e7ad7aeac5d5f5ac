#include "kvcache/kv_cache_manager.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace strata::kvcache {

namespace {

bool holds_blocks(const CacheGroupSpec& spec) { return spec.kind != CacheKind::kRecurrentState; }

[[noreturn]] void misuse(const std::string& what) { throw std::invalid_argument("kvcache: " + what); }

}  // namespace

KvCacheManager::KvCacheManager(KvCacheConfig config, BlockHasher hasher)
    : config_(std::move(config)), hasher_(std::move(hasher)) {
  const std::vector<int32_t> capacities = plan_capacities(config_);
  for (size_t g = 0; g < capacities.size(); ++g) {
    Group& group = groups_.emplace_back(Group{config_.groups[g], std::nullopt, std::nullopt});
    if (holds_blocks(group.spec)) {
      group.blocks.emplace(capacities[g], group.spec.block_size);
    } else {
      group.slots.emplace(capacities[g]);
    }
  }
}

const KvCacheManager::Sequence& KvCacheManager::sequence(SeqId seq) const {
  const auto it = sequences_.find(seq);
  if (it == sequences_.end()) misuse("unknown sequence " + std::to_string(seq));
  return it->second;
}

KvCacheManager::Sequence& KvCacheManager::sequence(SeqId seq) {
  return const_cast<Sequence&>(std::as_const(*this).sequence(seq));
}

KvCacheManager::PrefixMatch KvCacheManager::match_prefix(std::span<const TokenId> tokens,
                                                         std::string_view extra_key) const {
  PrefixMatch match;
  match.blocks.resize(groups_.size());
  if (!config_.enable_prefix_cache) return match;
  const int32_t block_size = groups_[0].spec.block_size;
  // The last token is always computed: its logits are what the step is for.
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size;
  std::vector<BlockRef> level_hits(groups_.size());
  for (int64_t level = 0; level < max_blocks; ++level) {
    const std::span<const TokenId> block_tokens = tokens.subspan(level * block_size, block_size);
    const BlockHash hash = hasher_(match.chain_hash, block_tokens, extra_key);
    for (size_t g = 0; g < groups_.size(); ++g) {
      const BlockRef parent = level == 0 ? BlockRef{} : match.blocks[g].back();
      const std::optional<BlockRef> hit = groups_[g].blocks->find(PrefixKey{hash, parent, block_tokens, extra_key});
      if (!hit) return match;
      level_hits[g] = *hit;
    }
    for (size_t g = 0; g < groups_.size(); ++g) match.blocks[g].push_back(level_hits[g]);
    match.chain_hash = hash;
    ++match.num_blocks;
  }
  return match;
}

std::optional<int64_t> KvCacheManager::allocate(SeqId seq, std::span<const TokenId> tokens,
                                                std::string_view extra_key) {
  if (contains(seq)) misuse("sequence " + std::to_string(seq) + " is already allocated");
  if (tokens.empty()) misuse("allocate needs at least one token");
  const auto num_tokens = static_cast<int64_t>(tokens.size());
  const PrefixMatch match = match_prefix(tokens, extra_key);
  const int64_t cached_tokens = match.num_blocks * groups_[0].spec.block_size;

  for (size_t g = 0; g < groups_.size(); ++g) {
    const Group& group = groups_[g];
    if (group.slots) {
      if (group.slots->num_free() == 0) return std::nullopt;
      continue;
    }
    // Hits on cached blocks take them out of what is available, like fresh blocks do.
    const auto revived =
        std::ranges::count_if(match.blocks[g], [&](BlockRef hit) { return group.blocks->ref_count(hit.id) == 0; });
    const int64_t fresh = admission_units(group.spec, num_tokens) - match.num_blocks;
    if (fresh + revived > available(static_cast<int>(g))) return std::nullopt;
  }

  Sequence& s = sequences_[seq];
  s.num_tokens = num_tokens;
  if (config_.enable_prefix_cache) s.num_committed = cached_tokens;
  s.extra_key = extra_key;
  s.chain_hash = match.chain_hash;
  s.groups.resize(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    Group& group = groups_[g];
    GroupHoldings& holdings = s.groups[g];
    if (group.slots) {
      holdings.slot = group.slots->allocate();
      continue;
    }
    // Hits first, so that making room for the fresh blocks cannot evict them.
    for (const BlockRef hit : match.blocks[g]) {
      group.blocks->add_ref(hit.id);
      holdings.table.push_back(hit.id);
    }
    if (!match.blocks[g].empty()) holdings.chain_tail = match.blocks[g].back();
    const int64_t taken = blocks_for_tokens(taken_end(group.spec, s.num_committed, num_tokens), group.spec.block_size);
    while (static_cast<int64_t>(holdings.table.size()) < taken) holdings.table.push_back(group.blocks->allocate());
    holdings.table.resize(static_cast<size_t>(blocks_for_tokens(num_tokens, group.spec.block_size)), kNoBlock);
    set_promise(s, static_cast<int>(g), promise(s, static_cast<int>(g), taken));
  }
  if (config_.enable_prefix_cache) {
    prefix_counters_.queried_tokens += num_tokens;
    prefix_counters_.hit_tokens += s.num_committed;
  }
  return s.num_committed;
}

int64_t KvCacheManager::available(int group) const {
  return groups_[group].blocks->num_available() - groups_[group].promised;
}

int64_t KvCacheManager::taken_end(const CacheGroupSpec& spec, int64_t committed, int64_t num_tokens) const {
  if (spec.kind != CacheKind::kWindowKv || !config_.max_step_tokens) return num_tokens;
  return std::min(num_tokens, committed + *config_.max_step_tokens);
}

int64_t KvCacheManager::admission_units(const CacheGroupSpec& spec, int64_t num_tokens) const {
  if (taken_end(spec, 0, num_tokens) == num_tokens) return blocks_for_tokens(num_tokens, spec.block_size);
  return window_step_units(spec, num_tokens, *config_.max_step_tokens);
}

int64_t KvCacheManager::promise(const Sequence& s, int group, int64_t held) const {
  const CacheGroupSpec& spec = groups_[group].spec;
  if (taken_end(spec, s.num_committed, s.num_tokens) == s.num_tokens) return 0;
  return window_step_units(spec, s.num_tokens, *config_.max_step_tokens) - held;
}

void KvCacheManager::set_promise(Sequence& s, int group, int64_t promised) {
  groups_[group].promised += promised - s.groups[group].promised;
  s.groups[group].promised = promised;
}

bool KvCacheManager::shares_partial_block(const Sequence& s, int group) const {
  const Group& g = groups_[group];
  return s.num_tokens % g.spec.block_size != 0 && g.blocks->ref_count(s.groups[group].table.back()) > 1;
}

int64_t KvCacheManager::blocks_to_append(const Sequence& s, int group, int64_t n) const {
  const Group& g = groups_[group];
  if (g.slots || n == 0) return 0;
  const int32_t block_size = g.spec.block_size;
  const int64_t new_blocks =
      blocks_for_tokens(s.num_tokens + n, block_size) - blocks_for_tokens(s.num_tokens, block_size);
  return new_blocks + (shares_partial_block(s, group) ? 1 : 0);
}

bool KvCacheManager::can_append(SeqId seq, int64_t n) const {
  if (n < 0) misuse("append of a negative token count");
  const Sequence& s = sequence(seq);
  if (config_.max_step_tokens && s.num_tokens + n > s.num_committed + *config_.max_step_tokens) {
    misuse("append past the next step's max_step_tokens for sequence " + std::to_string(seq));
  }
  for (int g = 0; g < num_groups(); ++g) {
    if (groups_[g].blocks && blocks_to_append(s, g, n) > available(g)) return false;
  }
  return true;
}

bool KvCacheManager::append(SeqId seq, int64_t n, std::vector<CopyOp>& copies) {
  if (!can_append(seq, n)) return false;
  if (n == 0) return true;
  Sequence& s = sequence(seq);
  for (int g = 0; g < num_groups(); ++g) {
    Group& group = groups_[g];
    if (!group.blocks) continue;
    std::vector<BlockId>& table = s.groups[g].table;
    // Copy on write: the engine is about to write into the partial last block.
    if (shares_partial_block(s, g)) {
      const BlockId copy = group.blocks->allocate();
      copies.push_back(CopyOp{g, table.back(), copy});
      group.blocks->release(table.back());
      table.back() = copy;
    }
    while (static_cast<int64_t>(table.size()) < blocks_for_tokens(s.num_tokens + n, group.spec.block_size)) {
      table.push_back(group.blocks->allocate());
    }
  }
  s.num_tokens += n;
  return true;
}

void KvCacheManager::commit(SeqId seq, std::span<const TokenId> tokens) {
  Sequence& s = sequence(seq);
  const auto count = static_cast<int64_t>(tokens.size());
  if (count > s.num_tokens - s.num_committed) {
    misuse("commit past the reserved tokens of sequence " + std::to_string(seq));
  }
  if (config_.max_step_tokens && count > *config_.max_step_tokens) {
    misuse("commit of more than max_step_tokens for sequence " + std::to_string(seq));
  }
  const int64_t committed_before = s.num_committed;
  if (config_.enable_prefix_cache) {
    const int32_t block_size = groups_[0].spec.block_size;
    for (const TokenId token : tokens) {
      s.pending.push_back(token);
      ++s.num_committed;
      if (static_cast<int32_t>(s.pending.size()) == block_size)
        register_full_block(s, s.num_committed / block_size - 1);
    }
  } else {
    s.num_committed += count;
  }
  for (int g = 0; g < num_groups(); ++g) {
    if (groups_[g].spec.kind != CacheKind::kWindowKv) continue;
    release_out_of_window(s, g, committed_before);
    take_next_step(s, g, committed_before);
  }
}

void KvCacheManager::register_full_block(Sequence& s, int64_t logical_block) {
  s.chain_hash = hasher_(s.chain_hash, s.pending, s.extra_key);
  for (size_t g = 0; g < groups_.size(); ++g) {
    GroupHoldings& holdings = s.groups[g];
    if (!holdings.chain_intact) continue;
    const std::optional<BlockRef> standing = groups_[g].blocks->register_block(
        holdings.table[logical_block], PrefixKey{s.chain_hash, holdings.chain_tail, s.pending, s.extra_key});
    holdings.chain_intact = standing.has_value();
    if (standing) holdings.chain_tail = *standing;
  }
  s.pending.clear();
}

void KvCacheManager::release_out_of_window(Sequence& s, int group, int64_t committed_before) {
  const CacheGroupSpec& spec = groups_[group].spec;
  // The next token to compute sits at position `committed` and reads back to committed -
  // window_tokens; the blocks wholly below that are read by no later token either.
  const auto blocks_behind = [&](int64_t committed) {
    return std::max<int64_t>(0, committed - spec.window_tokens) / spec.block_size;
  };
  std::vector<BlockId>& table = s.groups[group].table;
  const int64_t first = std::max(blocks_for_tokens(spec.sink_tokens, spec.block_size), blocks_behind(committed_before));
  for (int64_t b = first; b < blocks_behind(s.num_committed); ++b) {
    groups_[group].blocks->release(table[b]);
    table[b] = kNoBlock;
  }
}

void KvCacheManager::take_next_step(Sequence& s, int group, int64_t committed_before) {
  const CacheGroupSpec& spec = groups_[group].spec;
  if (taken_end(spec, committed_before, s.num_tokens) == s.num_tokens) return;  // nothing was deferred
  std::vector<BlockId>& table = s.groups[group].table;
  const int64_t from = blocks_for_tokens(taken_end(spec, committed_before, s.num_tokens), spec.block_size);
  const int64_t to = blocks_for_tokens(taken_end(spec, s.num_committed, s.num_tokens), spec.block_size);
  // The promise covers them: held + promised stays the bound while the prefill defers blocks.
  for (int64_t b = from; b < to; ++b) table[b] = groups_[group].blocks->allocate();
  set_promise(s, group, promise(s, group, std::ranges::count_if(table, [](BlockId b) { return b != kNoBlock; })));
}

bool KvCacheManager::fork(SeqId parent, SeqId child, std::vector<CopyOp>& copies) {
  const Sequence& source = sequence(parent);
  if (contains(child)) misuse("fork into existing sequence " + std::to_string(child));
  if (source.num_committed != source.num_tokens) {
    misuse("fork of sequence " + std::to_string(parent) + " with uncommitted tokens");
  }
  for (const Group& group : groups_) {
    // Compaction rewrites blocks in place, which a sibling sharing them would see.
    if (group.spec.kind == CacheKind::kEvictingKv) {
      misuse("fork with an evicting_kv group: its blocks cannot be shared");
    }
  }
  for (const Group& group : groups_) {
    if (group.slots && group.slots->num_free() == 0) return false;
  }

  Sequence copy = source;
  for (int g = 0; g < num_groups(); ++g) {
    Group& group = groups_[g];
    GroupHoldings& holdings = copy.groups[g];
    if (group.slots) {
      holdings.slot = group.slots->allocate();
      copies.push_back(CopyOp{g, source.groups[g].slot, holdings.slot});
      continue;
    }
    for (const BlockId block : holdings.table) {
      if (block != kNoBlock) group.blocks->add_ref(block);
    }
  }
  sequences_.emplace(child, std::move(copy));
  return true;
}

void KvCacheManager::free(SeqId seq) {
  Sequence& s = sequence(seq);
  for (int g = 0; g < num_groups(); ++g) {
    Group& group = groups_[g];
    if (group.slots) {
      group.slots->release(s.groups[g].slot);
      continue;
    }
    set_promise(s, g, 0);
    // Last block first: the LRU list then evicts a prefix's tail before its head, which keeps
    // the longest reusable prefixes.
    const std::vector<BlockId>& table = s.groups[g].table;
    for (auto it = table.rbegin(); it != table.rend(); ++it) {
      if (*it != kNoBlock) group.blocks->release(*it);
    }
  }
  sequences_.erase(seq);
}

void KvCacheManager::release_compacted(SeqId seq, int group, std::span<const int32_t> logical_blocks) {
  Sequence& s = sequence(seq);
  const CacheGroupSpec& spec = groups_.at(group).spec;
  if (spec.kind != CacheKind::kEvictingKv) {
    misuse("release_compacted on a " + std::string(to_string(spec.kind)) + " group");
  }
  std::vector<BlockId>& table = s.groups[group].table;
  const int64_t full_blocks = s.num_committed / spec.block_size;
  std::vector<int32_t> sorted(logical_blocks.begin(), logical_blocks.end());
  std::ranges::sort(sorted);
  if (std::ranges::adjacent_find(sorted) != sorted.end()) misuse("release_compacted names a block twice");
  for (const int32_t b : sorted) {
    if (b < 0 || b >= full_blocks || table[b] == kNoBlock) {
      misuse("release_compacted: logical block " + std::to_string(b) + " is not a held block full of committed tokens");
    }
  }
  for (const int32_t b : sorted) {
    groups_[group].blocks->release(table[b]);
    table[b] = kNoBlock;
  }
}

int64_t KvCacheManager::num_tokens(SeqId seq) const { return sequence(seq).num_tokens; }

std::span<const BlockId> KvCacheManager::block_table(SeqId seq, int group) const {
  if (!groups_.at(group).blocks) misuse("block_table of a recurrent_state group");
  return sequence(seq).groups[group].table;
}

SlotId KvCacheManager::state_slot(SeqId seq, int group) const {
  if (!groups_.at(group).slots) misuse("state_slot of a KV group");
  return sequence(seq).groups[group].slot;
}

GroupUsage KvCacheManager::usage(int group) const {
  const Group& g = groups_.at(group);
  if (g.slots) return GroupUsage{g.slots->num_slots(), g.slots->num_used(), g.slots->num_free(), 0, 0};
  return GroupUsage{g.blocks->num_blocks(), g.blocks->num_owned(), g.blocks->num_free(), g.blocks->num_cached(),
                    static_cast<int32_t>(g.promised)};
}

double KvCacheManager::usage_fraction() const {
  double used_bytes = 0;
  double capacity_bytes = 0;
  for (int g = 0; g < num_groups(); ++g) {
    const GroupUsage units = usage(g);
    const auto unit_bytes = static_cast<double>(groups_[g].spec.bytes_per_unit());
    used_bytes += units.used * unit_bytes;
    capacity_bytes += units.capacity * unit_bytes;
  }
  return used_bytes / capacity_bytes;
}

bool KvCacheManager::fits_alone(int64_t prompt_tokens, int64_t total_tokens) const {
  return std::ranges::all_of(groups_, [&](const Group& g) {
    const int64_t needed = std::max(admission_units(g.spec, prompt_tokens), resident_units(g.spec, total_tokens));
    return g.slots || needed <= g.blocks->num_blocks();
  });
}

void KvCacheManager::check_sequence(SeqId seq, const Sequence& s) const {
  const auto fail = [&](const std::string& what) {
    throw std::logic_error("kvcache invariant: sequence " + std::to_string(seq) + " " + what);
  };
  if (s.num_committed < 0 || s.num_committed > s.num_tokens) fail("has more tokens committed than reserved");
  if (config_.enable_prefix_cache &&
      static_cast<int64_t>(s.pending.size()) != s.num_committed % groups_[0].spec.block_size) {
    fail("has pending tokens that do not match its committed count");
  }
  for (int g = 0; g < num_groups(); ++g) {
    const Group& group = groups_[g];
    const GroupHoldings& holdings = s.groups[g];
    if (group.slots) {
      if (holdings.slot < 0 || holdings.slot >= group.slots->num_slots()) {
        fail("holds no state slot in group " + std::to_string(g));
      }
      continue;
    }
    if (static_cast<int64_t>(holdings.table.size()) != blocks_for_tokens(s.num_tokens, group.spec.block_size)) {
      fail("has a block table in group " + std::to_string(g) + " that does not cover its tokens");
    }
    for (const BlockId block : holdings.table) {
      if (block == kNoBlock && group.spec.kind == CacheKind::kPagedKv) {
        fail("has a released block in paged group " + std::to_string(g));
      }
      if (block != kNoBlock && (block < 0 || block >= group.blocks->num_blocks())) {
        fail("has an out-of-range block in group " + std::to_string(g));
      }
    }
    const int64_t taken = blocks_for_tokens(taken_end(group.spec, s.num_committed, s.num_tokens), group.spec.block_size);
    if (std::ranges::any_of(holdings.table.begin() + taken, holdings.table.end(), [](BlockId b) { return b != kNoBlock; })) {
      fail("holds blocks past the next step in group " + std::to_string(g));
    }
    const auto held = std::ranges::count_if(holdings.table, [](BlockId b) { return b != kNoBlock; });
    if (holdings.promised < 0 || holdings.promised != promise(s, g, held)) {
      fail("has a promise in group " + std::to_string(g) + " other than its bound less what it holds");
    }
  }
}

void KvCacheManager::check_invariants() const {
  for (const auto& [seq, s] : sequences_) check_sequence(seq, s);
  for (int g = 0; g < num_groups(); ++g) {
    const Group& group = groups_[g];
    try {
      if (group.slots) {
        std::vector<int32_t> owners(group.slots->num_slots());
        for (const auto& [seq, s] : sequences_) ++owners[s.groups[g].slot];
        group.slots->check_invariants(owners);
      } else {
        std::vector<int32_t> table_refs(group.blocks->num_blocks());
        int64_t promised = 0;
        for (const auto& [seq, s] : sequences_) {
          promised += s.groups[g].promised;
          for (const BlockId block : s.groups[g].table) {
            if (block != kNoBlock) ++table_refs[block];
          }
        }
        group.blocks->check_invariants(table_refs);
        if (promised != group.promised || promised > group.blocks->num_available()) {
          throw std::logic_error("the promised blocks are not the sequences' promises, or more than are available");
        }
      }
    } catch (const std::logic_error& violation) {
      throw std::logic_error("cache group " + std::to_string(g) + " (" + std::string(to_string(group.spec.kind)) +
                             "): " + violation.what());
    }
  }
}

}  // namespace strata::kvcache
