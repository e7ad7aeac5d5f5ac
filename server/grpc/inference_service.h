// strata.v1.Inference on the synchronous gRPC API: each call runs on a gRPC thread that waits
// for its request's events from the InferenceEngine.
#pragma once

#include <string>

#include "engine/runtime/loaded_model.h"
#include "scheduler/inference_engine.h"
#include "strata/v1/inference.grpc.pb.h"

namespace strata::server {

class InferenceService final : public strata::v1::Inference::Service {
 public:
  InferenceService(runtime::LoadedModel& model, scheduler::InferenceEngine& engine, std::string served_model_name)
      : model_(model), engine_(engine), served_model_name_(std::move(served_model_name)) {}

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override;
  grpc::Status ModelInfo(grpc::ServerContext* context, const v1::ModelInfoRequest* request,
                         v1::ModelInfoResponse* response) override;

 private:
  runtime::LoadedModel& model_;
  scheduler::InferenceEngine& engine_;
  std::string served_model_name_;
};

}  // namespace strata::server
