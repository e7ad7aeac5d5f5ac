// Token picks on the GPU, one block per sampling row, following the definition in
// engine/sampling/sample_row.h step for step: adjusted logits, then the argmax or the kept
// candidates (top-k and top-p thresholds found by radix selection over the unique candidate
// keys, min-p as a predicate), then the counter-based draw over integer masses walked in id
// order. Integer masses make every sum exact, so the pick does not depend on thread order.
#pragma once

#include <cstdint>

#include "engine/cuda/sample_args.h"
#include "engine/sampling/sampling_math.h"

#include "engine/cuda/kernels/dependent_launch.cuh"

namespace strata::cuda::kernels {

constexpr int kSampleThreads = 1024;

// Block-wide reductions over kSampleThreads threads; every thread gets the result.
template <typename T, typename Op>
__device__ inline T block_reduce(T value, Op op) {
  __shared__ T partial[kSampleThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int offset = 16; offset > 0; offset >>= 1) value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  T result = partial[0];
  for (int w = 1; w < kSampleThreads / 32; ++w) result = op(result, partial[w]);
  __syncthreads();
  return result;
}

// Calls f(v[i], i) for this thread's ids i (threadIdx.x, then a block's width apart) with
// kLoadBatch loads in flight: a plain strided loop waits on one L2 round trip per id.
constexpr int kLoadBatch = 16;
template <typename F>
__device__ inline void for_each_logit(const float* v, int vocab, F&& f) {
  for (int base = threadIdx.x; base < vocab; base += kLoadBatch * kSampleThreads) {
    float x[kLoadBatch];
#pragma unroll
    for (int b = 0; b < kLoadBatch; ++b) {
      const int i = base + b * kSampleThreads;
      x[b] = i < vocab ? v[i] : 0.0f;
    }
#pragma unroll
    for (int b = 0; b < kLoadBatch; ++b) {
      const int i = base + b * kSampleThreads;
      if (i < vocab) f(x[b], i);
    }
  }
}

struct MaxU64 {
  __device__ uint64_t operator()(uint64_t a, uint64_t b) const { return a > b ? a : b; }
};
struct SumU64 {
  __device__ uint64_t operator()(uint64_t a, uint64_t b) const { return a + b; }
};
struct SumF64 {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct MaxF32 {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

__device__ inline uint64_t mass_of(float v, float best, float temperature) {
  return sampling::mass_units(sampling::relative_probability(v, best, temperature));
}

// The key of the k-th largest candidate (keys are unique): eight passes of 8-bit digits.
__device__ inline uint64_t select_kth_key(const float* v, int vocab, int k) {
  __shared__ unsigned counts[256];
  __shared__ uint64_t shared_prefix;
  __shared__ int shared_remaining;
  uint64_t prefix = 0;
  int remaining = k;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const uint64_t high = shift == 56 ? 0 : ~uint64_t{0} << (shift + 8);
    for (int b = threadIdx.x; b < 256; b += blockDim.x) counts[b] = 0;
    __syncthreads();
    for_each_logit(v, vocab, [&](float x, int i) {
      const uint64_t key = sampling::candidate_key(x, i);
      if ((key & high) == prefix) atomicAdd(&counts[(key >> shift) & 255], 1u);
    });
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned above = 0;
      for (int b = 255; b >= 0; --b) {
        if (above + counts[b] >= static_cast<unsigned>(remaining)) {
          prefix |= static_cast<uint64_t>(b) << shift;
          remaining -= static_cast<int>(above);
          break;
        }
        above += counts[b];
      }
      shared_prefix = prefix;
      shared_remaining = remaining;
    }
    __syncthreads();
    prefix = shared_prefix;
    remaining = shared_remaining;
  }
  return prefix;
}

// The largest key >= floor whose candidates from the best down to it hold at least `target`
// mass: the top-p cut, found digit by digit over the mass histograms.
__device__ inline uint64_t select_mass_key(const float* v, int vocab, float best, float temperature, uint64_t floor,
                                           double target) {
  __shared__ unsigned long long masses[256];
  __shared__ uint64_t shared_prefix, shared_above;
  uint64_t prefix = 0, above = 0;  // above: mass of kept keys beyond the prefix's range
  for (int shift = 56; shift >= 0; shift -= 8) {
    const uint64_t high = shift == 56 ? 0 : ~uint64_t{0} << (shift + 8);
    for (int b = threadIdx.x; b < 256; b += blockDim.x) masses[b] = 0;
    __syncthreads();
    for_each_logit(v, vocab, [&](float x, int i) {
      const uint64_t key = sampling::candidate_key(x, i);
      if (key >= floor && (key & high) == prefix) {
        atomicAdd(&masses[(key >> shift) & 255], static_cast<unsigned long long>(mass_of(x, best, temperature)));
      }
    });
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int b = 255; b >= 0; --b) {
        if (static_cast<double>(above + masses[b]) >= target || b == 0) {
          prefix |= static_cast<uint64_t>(b) << shift;
          break;
        }
        above += masses[b];
      }
      shared_prefix = prefix;
      shared_above = above;
    }
    __syncthreads();
    prefix = shared_prefix;
    above = shared_above;
  }
  return prefix;
}

__global__ void __launch_bounds__(kSampleThreads) sample_rows(const float* __restrict__ logits, int vocab,
                                                              const cuda::SampleRowArgs* __restrict__ rows,
                                                              const sampling::TokenAdjustment* __restrict__ adjustments,
                                                              float* __restrict__ work, cuda::SampledOut* __restrict__ out) {
  wait_for_inputs();
  // One read of the row's parameters (they may sit in host memory) for the whole block.
  // (Raw storage: the struct's member initializers are not allowed on a __shared__ variable.)
  __shared__ alignas(cuda::SampleRowArgs) unsigned char row_bytes[sizeof(cuda::SampleRowArgs)];
  auto* row = reinterpret_cast<cuda::SampleRowArgs*>(row_bytes);
  if (threadIdx.x == 0) *row = rows[blockIdx.x];
  __syncthreads();
  const cuda::SampleRowArgs r = *row;
  const float* raw = logits + static_cast<size_t>(r.logits_row) * vocab;
  // The adjusted row: a copy only where some token is adjusted.
  float* adjusted = work + static_cast<size_t>(blockIdx.x) * vocab;
  const float* v = r.adjust_count > 0 ? adjusted : raw;
  if (r.adjust_count > 0) {
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) adjusted[i] = raw[i];
    __syncthreads();
    for (int j = threadIdx.x; j < r.adjust_count; j += blockDim.x) {
      const sampling::TokenAdjustment a = adjustments[r.adjust_begin + j];
      adjusted[a.token] = sampling::adjusted_logit(raw[a.token], a, r.penalties);
    }
    __syncthreads();
  }

  uint64_t best_key = 0;
  for_each_logit(v, vocab, [&](float x, int i) { best_key = max(best_key, sampling::candidate_key(x, i)); });
  best_key = block_reduce(best_key, MaxU64{});
  const int best_id = static_cast<int>(0xffffffffu - static_cast<uint32_t>(best_key));
  __shared__ int token;
  if (r.temperature == 0.0f) {
    if (threadIdx.x == 0) token = best_id;
  } else {
    const float best = v[best_id];
    uint64_t floor = 0;  // kept: keys >= floor
    if (r.top_k > 0 && r.top_k < vocab) floor = select_kth_key(v, vocab, r.top_k);
    if (r.top_p < 1.0f) {
      uint64_t total = 0;
      for_each_logit(v, vocab, [&](float x, int i) {
        if (sampling::candidate_key(x, i) >= floor) total += mass_of(x, best, r.temperature);
      });
      total = block_reduce(total, SumU64{});
      floor = select_mass_key(v, vocab, best, r.temperature, floor, static_cast<double>(r.top_p) * static_cast<double>(total));
    }
    // The draw over the kept mass in id order: each thread a contiguous chunk of ids.
    auto kept_mass = [&](int i) -> uint64_t {
      if (sampling::candidate_key(v[i], i) < floor) return 0;
      const double p = sampling::relative_probability(v[i], best, r.temperature);
      if (r.min_p > 0.0f && i != best_id && p < static_cast<double>(r.min_p)) return 0;
      return sampling::mass_units(p);
    };
    const int chunk = (vocab + blockDim.x - 1) / blockDim.x;
    const int begin = min(vocab, static_cast<int>(threadIdx.x) * chunk), end = min(vocab, begin + chunk);
    uint64_t local = 0;
    for (int i = begin; i < end; ++i) local += kept_mass(i);
    __shared__ uint64_t sums[kSampleThreads];
    sums[threadIdx.x] = local;
    __syncthreads();
    if (threadIdx.x == 0) {
      uint64_t running = 0;
      for (int t = 0; t < static_cast<int>(blockDim.x); ++t) {
        const uint64_t s = sums[t];
        sums[t] = running;
        running += s;
      }
      sums[0] = running;  // thread 0's exclusive prefix is 0; the slot carries the total over
      token = best_id;
    }
    __syncthreads();
    const uint64_t total = sums[0];
    const uint64_t prefix = threadIdx.x == 0 ? 0 : sums[threadIdx.x];
    const uint64_t target = sampling::draw_below(r.seed, r.draw, total);
    if (local > 0 && target >= prefix && target < prefix + local) {
      uint64_t cumulative = prefix;
      for (int i = begin; i < end; ++i) {
        cumulative += kept_mass(i);
        if (cumulative > target) {
          token = i;
          break;
        }
      }
    }
  }
  __syncthreads();

  cuda::SampledOut& o = out[blockIdx.x];
  if (threadIdx.x == 0) o.token = token;
  if (r.top_logprobs < 0) return;
  // Log-probabilities of the raw distribution, as engine/sampling/logprobs.cpp.
  float max_raw = -INFINITY;
  for_each_logit(raw, vocab, [&](float x, int) { max_raw = fmaxf(max_raw, x); });
  max_raw = block_reduce(max_raw, MaxF32{});
  double sum = 0.0;
  for_each_logit(raw, vocab, [&](float x, int) { sum += exp(static_cast<double>(x - max_raw)); });
  sum = block_reduce(sum, SumF64{});
  const float log_z = max_raw + static_cast<float>(log(sum));
  if (threadIdx.x == 0) o.chosen_logprob = raw[token] - log_z;
  uint64_t previous = ~uint64_t{0};
  for (int j = 0; j < min(r.top_logprobs, min(vocab, cuda::kMaxTopLogprobs)); ++j) {
    uint64_t next = 0;
    for_each_logit(raw, vocab, [&](float x, int i) {
      const uint64_t key = sampling::candidate_key(x, i);
      if (key < previous) next = max(next, key);
    });
    next = block_reduce(next, MaxU64{});
    if (threadIdx.x == 0) {
      const int id = static_cast<int>(0xffffffffu - static_cast<uint32_t>(next));
      o.top_ids[j] = id;
      o.top_logprobs[j] = raw[id] - log_z;
    }
    previous = next;
  }
}

}  // namespace strata::cuda::kernels
