#include "server/cli/device_option.h"

#include <spdlog/spdlog.h>

#ifdef STRATA_WITH_CUDA
#include "engine/cuda/device.h"
#include "engine/cuda/model/cuda_llama_model.h"
#endif

namespace strata::cli {

void add_device_option(ArgParser& p) {
  p.option("--device", "DEVICE", "cpu or cuda (default: cuda when a GPU is visible, else cpu)");
}

void apply_device_option(const ArgParser& p, runtime::LoadedModel& m) {
  std::string device = p.get_string("--device", "");
  if (device != "" && device != "cpu" && device != "cuda") {
    throw UsageError("invalid value '" + device + "' for --device: expected cpu or cuda");
  }
#ifdef STRATA_WITH_CUDA
  const auto gpus = cuda::query_devices();
  if (device.empty()) device = gpus.devices.empty() ? "cpu" : "cuda";
  if (device == "cuda") {
    if (gpus.devices.empty()) throw UsageError("--device cuda: no usable GPU (" + gpus.reason + ")");
    m.make_runner = cuda::cuda_runner_factory(*m.file);
    spdlog::info("device: cuda ({})", gpus.devices.front().name);
    return;
  }
#else
  if (device == "cuda") throw UsageError("--device cuda: this build has no CUDA (STRATA_CUDA=OFF or no nvcc)");
#endif
  spdlog::info("device: cpu ({} threads)", m.model->n_threads());
}

}  // namespace strata::cli
