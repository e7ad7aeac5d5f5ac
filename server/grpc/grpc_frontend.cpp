#include "server/grpc/grpc_frontend.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <stdexcept>

#include "server/grpc/inference_service.h"

namespace strata::server {

GrpcFrontend::GrpcFrontend(runtime::LoadedModel& model, scheduler::InferenceEngine& engine,
                           metrics::ServerMetrics& metrics, std::string served_model_name, std::string api_key,
                           const std::string& host, int port)
    : service_(std::make_unique<InferenceService>(model, engine, metrics, std::move(served_model_name),
                                                  std::move(api_key))) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) throw std::runtime_error("cannot serve gRPC on " + host + ":" + std::to_string(port));
}

GrpcFrontend::~GrpcFrontend() { shutdown(std::chrono::milliseconds(0)); }

void GrpcFrontend::shutdown(std::chrono::milliseconds grace) {
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_.reset();
}

}  // namespace strata::server
