// The gRPC front end: strata.v1.Inference, grpc.health.v1.Health and server reflection on one
// port, so stock tools (grpcurl, grpc_health_probe) work against it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engine/runtime/loaded_model.h"
#include "scheduler/inference_engine.h"

namespace grpc {
class Server;
}

namespace strata::server {

class InferenceService;

class GrpcFrontend {
 public:
  // Starts serving on host:port (port 0 picks a free one). Throws std::runtime_error when the
  // address cannot be bound.
  GrpcFrontend(runtime::LoadedModel& model, scheduler::InferenceEngine& engine, std::string served_model_name,
               const std::string& host, int port);
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
