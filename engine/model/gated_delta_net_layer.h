// The token mixer of Qwen3-Next's linear layers around the gated delta-rule cell
// (engine/attention/linear/gated_delta_net.h): the input projections (ssm_in: q, k, v and the
// output gate z, grouped by key head as transformers' in_proj_qkvz; ssm_ba: the write strength b
// and decay input a), the cell with its conv and state in the sequence's slot, the gated RMSNorm
// of each value head (ssm_norm, times silu(z)) and the output projection (ssm_out).
#pragma once

#include <string>
#include <vector>

#include "engine/attention/linear/gated_delta_net.h"
#include "engine/cpu/matmul.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model_config.h"

namespace strata::model {

class GatedDeltaNetLayer {
 public:
  // Loads the layer's tensors named `prefix` + "ssm_*" (llama.cpp's qwen3next names; ssm_a holds
  // -exp(A_log)). Throws gguf::FormatError naming a missing or misshapen tensor.
  GatedDeltaNetLayer(const gguf::GgufFile& file, const std::string& prefix, const ModelConfig& config);

  // out[n x n_embd] = the mixer's output for the normalised inputs h[n x n_embd] of the step's
  // rows (laid out by `plan`), continuing and updating each sequence's slot in `slots`.
  void forward(const float* h, const attention::linear::LinearBatchPlan& plan,
               const attention::linear::StateSlots& slots, float* out, cpu::MatmulScratch& scratch,
               cpu::ThreadPool& pool) const;

 private:
  attention::linear::GatedDeltaNetShape shape_;
  float rms_eps_;
  cpu::WeightMatrix in_qkvz_, in_ba_, out_proj_;
  std::vector<float> conv_weight_, a_log_, dt_bias_, norm_;
  attention::linear::GatedDeltaNetCell cell_;  // reads the vectors above, whose buffers never move
};

}  // namespace strata::model
