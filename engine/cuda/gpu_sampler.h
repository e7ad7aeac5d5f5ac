// Picks tokens from logits already on the GPU: the sampling kernel reads the rows' parameters
// and adjustments from page-locked host memory and writes only the picks and their logprobs
// back into it.
#pragma once

#include <cuda_runtime.h>

#include <span>
#include <vector>

#include "engine/cuda/device_array.h"
#include "engine/cuda/pinned_buffer.h"
#include "engine/cuda/sample_args.h"
#include "engine/sampling/sample_row.h"

namespace strata::cuda {

class GpuSampler {
 public:
  // One pick per row from `logits` ([n_logits_rows x vocab] on the device), waiting for the
  // result on `stream`. Throws std::out_of_range for a row or an adjusted id out of range.
  std::vector<sampling::SampledToken> sample(const float* logits, int n_logits_rows, int vocab,
                                             std::span<const sampling::SamplingRow> rows, cudaStream_t stream);

 private:
  PinnedBuffer<SampleRowArgs> rows_host_;
  PinnedBuffer<sampling::TokenAdjustment> adjustments_host_;
  PinnedBuffer<SampledOut> picks_host_;
  DeviceArray<float> work_;
};

}  // namespace strata::cuda
