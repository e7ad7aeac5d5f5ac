#include "engine/attention/backend_registry.h"

#include <array>

#include "engine/attention/block_topk_backend.h"
#include "engine/attention/full_backend.h"
#include "engine/attention/layout_error.h"
#include "engine/attention/linear_backend.h"
#include "engine/attention/sink_window_backend.h"

namespace strata::attention {

int64_t fp16_kv_bytes_per_token(const model::ModelConfig& config) {
  return int64_t{2} * config.n_kv_heads * config.head_dim * 2;
}

std::span<const BackendInfo> registered_backends() {
  static const std::array<BackendInfo, 4> backends = {full_backend(), sink_window_backend(), block_topk_backend(),
                                                      linear_backend()};
  return backends;
}

const BackendInfo& find_backend(std::string_view name, const std::string& where) {
  std::string known;
  for (const BackendInfo& backend : registered_backends()) {
    if (backend.name == name) return backend;
    known += (known.empty() ? "" : ", ") + std::string(backend.name);
  }
  // Backends of the design that are not built: say so rather than "unknown".
  const bool planned = name == "evict";
  throw LayoutError(where + ": " + (planned ? "backend '" + std::string(name) + "' is not implemented yet"
                                            : "unknown backend '" + std::string(name) + "'") +
                    " (available: " + known + ")");
}

}  // namespace strata::attention
