// The gRPC front end: strata.v1.Inference, grpc.health.v1.Health and server reflection on one
// port, so stock tools (grpcurl, grpc_health_probe) work against it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engine/runtime/loaded_model.h"
#include "scheduler/inference_engine.h"
#include "server/metrics/server_metrics.h"

namespace grpc {
class Server;
}

namespace strata::server {

class InferenceService;

class GrpcFrontend {
 public:
  // Starts serving on host:port (port 0 picks a free one). Requests count in `metrics` like
  // HTTP ones; a non-empty api_key is required as "authorization: Bearer <key>" metadata (the
  // health service and reflection stay open). Throws std::runtime_error when the address cannot
  // be bound.
  GrpcFrontend(runtime::LoadedModel& model, scheduler::InferenceEngine& engine, metrics::ServerMetrics& metrics,
               std::string served_model_name, std::string api_key, const std::string& host, int port);
  ~GrpcFrontend();
  GrpcFrontend(const GrpcFrontend&) = delete;
  GrpcFrontend& operator=(const GrpcFrontend&) = delete;

  int port() const { return port_; }
  // Health turns NOT_SERVING, then calls still running get until `grace` to finish.
  void shutdown(std::chrono::milliseconds grace);

 private:
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace strata::server
