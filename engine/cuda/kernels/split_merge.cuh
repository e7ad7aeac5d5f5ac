// The exact merge of one (token, head)'s key splits (flash-decoding): each split's normalized
// partial output weighted by exp(its log-sum-exp - the largest). One definition for
// merge_splits (paged_attention.cuh) and the projection that merges as it reads
// (single_token_linear.cuh).
#pragma once

namespace strata::cuda::kernels {

struct MergedSplit {
  float value;    // dimension d of the merged output
  float max_lse;  // the merged log-sum-exp is max_lse + log(total)
  float total;
};

// partials: the (token, head)'s [splits x head_dim] partial outputs; lses: their splits
// log-sum-exps (-inf: a split without keys).
__device__ inline MergedSplit merge_split_dimension(const float* __restrict__ partials, const float* __restrict__ lses, int splits,
                                                    int head_dim, int d) {
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, lses[s]);
  float total = 0.0f, sum = 0.0f;
  for (int s = 0; s < splits; ++s) {
    if (lses[s] == -INFINITY) continue;
    const float w = __expf(lses[s] - m);
    total += w;
    sum += w * partials[static_cast<size_t>(s) * head_dim + d];
  }
  return {sum / total, m, total};
}

}  // namespace strata::cuda::kernels
