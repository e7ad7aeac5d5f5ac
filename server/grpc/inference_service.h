// strata.v1.Inference on the synchronous gRPC API: each call runs on a gRPC thread that waits
// for its request's events from the InferenceEngine.
#pragma once

#include <string>

#include "engine/runtime/loaded_model.h"
#include "scheduler/inference_engine.h"
#include "server/metrics/server_metrics.h"
#include "strata/v1/inference.grpc.pb.h"

namespace strata::server {

class InferenceService final : public strata::v1::Inference::Service {
 public:
  // api_key: when not empty, every call needs metadata "authorization: Bearer <key>".
  InferenceService(runtime::LoadedModel& model, scheduler::InferenceEngine& engine, metrics::ServerMetrics& metrics,
                   std::string served_model_name, std::string api_key)
      : model_(model),
        engine_(engine),
        metrics_(metrics),
        served_model_name_(std::move(served_model_name)),
        api_key_(std::move(api_key)) {}

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override;
  grpc::Status ModelInfo(grpc::ServerContext* context, const v1::ModelInfoRequest* request,
                         v1::ModelInfoResponse* response) override;

 private:
  grpc::Status authorize(const grpc::ServerContext& context) const;

  runtime::LoadedModel& model_;
  scheduler::InferenceEngine& engine_;
  metrics::ServerMetrics& metrics_;
  std::string served_model_name_;
  std::string api_key_;
};

}  // namespace strata::server
