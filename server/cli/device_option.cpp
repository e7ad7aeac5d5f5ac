#include "server/cli/device_option.h"

#include <spdlog/spdlog.h>

#include "engine/attention/device_support.h"
#include "engine/model/synthetic_models.h"

#ifdef STRATA_WITH_CUDA
#include "engine/cuda/device.h"
#include "engine/cuda/model/cuda_decoder_model.h"
#endif

namespace strata::cli {
namespace {

std::string chosen_device(const ArgParser& p) {
  std::string device = p.get_string("--device", "");
  if (device != "" && device != "cpu" && device != "cuda") {
    throw UsageError("invalid value '" + device + "' for --device: expected cpu or cuda");
  }
#ifdef STRATA_WITH_CUDA
  const auto gpus = cuda::query_devices();
  if (device.empty()) device = gpus.devices.empty() ? "cpu" : "cuda";
  if (device == "cuda" && gpus.devices.empty()) throw UsageError("--device cuda: no usable GPU (" + gpus.reason + ")");
  if (device == "cuda") spdlog::info("device: cuda ({})", gpus.devices.front().name);
#else
  if (device == "cuda") throw UsageError("--device cuda: this build has no CUDA (STRATA_CUDA=OFF or no nvcc)");
  device = "cpu";
#endif
  return device;
}

}  // namespace

void add_device_option(ArgParser& p) {
  p.option("--device", "DEVICE", "cpu or cuda (default: cuda when a GPU is visible, else cpu)");
}

std::string apply_device_option(const ArgParser& p, runtime::LoadedModel& m) {
  if (chosen_device(p) == "cuda") {
    attention::check_runs_on_cuda(m.model->attention_plan());
#ifdef STRATA_WITH_CUDA
    m.make_runner = cuda::cuda_runner_factory(*m.file, m.model->attention_plan());
#endif
    return "cuda";
  }
  spdlog::info("device: cpu ({} threads)", m.model->n_threads());
  return "cpu (" + std::to_string(m.model->n_threads()) + " threads)";
}

std::string synthetic_names() {
  std::string names;
  for (const auto& name : model::synthetic_model_names()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

model::ModelConfig synthetic_model(const std::string& name) {
  auto config = model::synthetic_config(name);
  if (!config) throw UsageError("unknown --synthetic model '" + name + "' (known: " + synthetic_names() + ")");
  return *config;
}

model::ModelRunnerFactory synthetic_runner(const ArgParser& p, [[maybe_unused]] const model::ModelConfig& config,
                                           [[maybe_unused]] const attention::AttentionPlan& plan) {
  const std::string device = chosen_device(p);
#ifdef STRATA_WITH_CUDA
  if (device == "cuda") {
    attention::check_runs_on_cuda(plan);
    return cuda::synthetic_runner_factory(config, 1, plan);
  }
#endif
  throw UsageError("--synthetic models run on the GPU only (device here: " + device + ")");
}

}  // namespace strata::cli
