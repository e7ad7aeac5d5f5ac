#include "server/grpc/inference_service.h"

#include "engine/attention/plan_description.h"
#include "engine/runtime/generate.h"
#include "server/grpc/event_queue.h"

namespace strata::server {
namespace {

// How often a waiting call looks at its context for cancellation or a passed deadline.
constexpr std::chrono::milliseconds kCancelPoll{20};

grpc::Status invalid(const std::string& message) { return {grpc::StatusCode::INVALID_ARGUMENT, message}; }

scheduler::GenerationParams generation_params(const v1::GenerateRequest& r) {
  scheduler::GenerationParams p;
  const auto& s = r.sampling();
  if (s.has_temperature()) p.sampling.temperature = s.temperature();
  if (s.has_top_p()) p.sampling.top_p = s.top_p();
  if (s.has_top_k()) p.sampling.top_k = s.top_k();
  if (s.has_min_p()) p.sampling.min_p = s.min_p();
  if (s.has_repetition_penalty()) p.sampling.repetition_penalty = s.repetition_penalty();
  if (s.has_presence_penalty()) p.sampling.presence_penalty = s.presence_penalty();
  if (s.has_frequency_penalty()) p.sampling.frequency_penalty = s.frequency_penalty();
  if (s.has_seed()) p.sampling.seed = s.seed();
  if (r.has_max_tokens()) p.max_tokens = r.max_tokens();
  p.min_tokens = r.min_tokens();
  p.stop.assign(r.stop().begin(), r.stop().end());
  p.stop_token_ids.assign(r.stop_token_ids().begin(), r.stop_token_ids().end());
  p.ignore_eos = r.ignore_eos();
  if (r.has_n()) p.n = r.n();
  if (r.has_logprobs()) p.logprobs = r.logprobs();
  p.priority = r.priority();
  return p;
}

v1::FinishReason finish_reason(scheduler::FinishReason reason) {
  switch (reason) {
    case scheduler::FinishReason::kStop: return v1::FINISH_REASON_STOP;
    case scheduler::FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    case scheduler::FinishReason::kCancelled: return v1::FINISH_REASON_CANCELLED;
    case scheduler::FinishReason::kError: return v1::FINISH_REASON_ERROR;
  }
  return v1::FINISH_REASON_ERROR;
}

v1::GenerateResponse to_response(const scheduler::SequenceEvent& e) {
  v1::GenerateResponse out;
  out.set_index(e.index);
  for (int32_t t : e.tokens) out.add_token_ids(t);
  out.set_text(e.text);
  for (const auto& step : e.logprobs) {
    auto* lp = out.add_logprobs();
    lp->mutable_chosen()->set_token(step.chosen.token);
    lp->mutable_chosen()->set_logprob(step.chosen.logprob);
    for (const auto& alt : step.top) {
      auto* t = lp->add_top();
      t->set_token(alt.token);
      t->set_logprob(alt.logprob);
    }
  }
  if (e.finish) out.set_finish_reason(finish_reason(*e.finish));
  out.set_error(e.error);
  if (e.usage) {
    out.mutable_usage()->set_prompt_tokens(e.usage->prompt_tokens);
    out.mutable_usage()->set_completion_tokens(e.usage->completion_tokens);
    out.mutable_usage()->set_cached_prompt_tokens(e.usage->cached_prompt_tokens);
  }
  return out;
}

}  // namespace

grpc::Status InferenceService::authorize(const grpc::ServerContext& context) const {
  if (api_key_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end() || std::string_view(it->second.data(), it->second.size()) != "Bearer " + api_key_) {
    return {grpc::StatusCode::UNAUTHENTICATED, "missing or wrong API key (metadata 'authorization: Bearer <key>')"};
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                        grpc::ServerWriter<v1::GenerateResponse>* writer) {
  if (auto denied = authorize(*context); !denied.ok()) return denied;
  std::vector<int32_t> prompt;
  if (request->has_token_ids()) {
    prompt.assign(request->token_ids().ids().begin(), request->token_ids().ids().end());
  } else if (request->has_text()) {
    prompt = runtime::tokenize_prompt(model_, request->text(), /*parse_special=*/true);
  } else {
    return invalid("the request has neither text nor token_ids");
  }
  auto events = std::make_shared<EventQueue>();
  const auto params = generation_params(*request);
  const auto prompt_tokens = static_cast<int32_t>(prompt.size());
  const auto submitted_at = std::chrono::steady_clock::now();
  auto submitted = engine_.submit({std::move(prompt), params}, [events](const auto& e) { events->push(e); }).get();
  if (submitted.status == scheduler::SubmitStatus::kInvalid) return invalid(submitted.reason);
  if (submitted.status == scheduler::SubmitStatus::kBusy) return {grpc::StatusCode::RESOURCE_EXHAUSTED, submitted.reason};

  metrics::RequestMetrics timeline(metrics_, prompt_tokens, submitted_at);
  int32_t unfinished = params.n;
  // After a cancel the engine still sends each sequence's final event (at its next step); the
  // metrics take them before the call ends, so every request is counted once, when it ends.
  auto cancel_and_drain = [&](const char* why) {
    engine_.cancel(submitted.request_id);
    while (unfinished > 0) {
      auto stamped = events->pop(kCancelPoll);
      if (!stamped) continue;
      timeline.on_event(stamped->event, stamped->at);
      if (stamped->event.finish) --unfinished;
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, why);
  };
  while (unfinished > 0) {
    if (context->IsCancelled()) return cancel_and_drain("the call was cancelled or its deadline passed");
    auto stamped = events->pop(kCancelPoll);
    if (!stamped) continue;
    timeline.on_event(stamped->event, stamped->at);
    if (stamped->event.finish) --unfinished;
    if (!writer->Write(to_response(stamped->event))) return cancel_and_drain("the client went away");
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                                        v1::TokenizeResponse* response) {
  if (auto denied = authorize(*context); !denied.ok()) return denied;
  for (int32_t id : model_.tokenizer->encode(request->text(), request->add_special_tokens(), /*parse_special=*/true)) {
    response->add_token_ids(id);
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                                          v1::DetokenizeResponse* response) {
  if (auto denied = authorize(*context); !denied.ok()) return denied;
  const int32_t vocab = model_.tokenizer->vocab_size();
  for (int32_t id : request->token_ids()) {
    if (id < 0 || id >= vocab) return invalid("token id " + std::to_string(id) + " is outside the vocabulary");
  }
  std::vector<int32_t> ids(request->token_ids().begin(), request->token_ids().end());
  response->set_text(model_.tokenizer->decode(ids));
  return grpc::Status::OK;
}

grpc::Status InferenceService::ModelInfo(grpc::ServerContext* context, const v1::ModelInfoRequest*,
                                         v1::ModelInfoResponse* response) {
  if (auto denied = authorize(*context); !denied.ok()) return denied;
  const auto& c = model_.model->config();
  response->set_name(served_model_name_);
  response->set_architecture(c.architecture);
  response->set_context_length(c.context_length);
  response->set_vocab_size(c.vocab_size);
  response->set_num_layers(c.n_layers);
  response->set_num_heads(c.n_heads);
  response->set_num_kv_heads(c.n_kv_heads);
  response->set_head_dim(c.head_dim);
  const auto& plan = model_.model->attention_plan();
  response->set_attention_layout(plan.source.empty() ? "the model's own" : plan.source);
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const auto& spec = plan.layers[i];
    auto* layer = response->add_layers();
    layer->set_index(static_cast<int32_t>(i));
    layer->set_attention(std::string(spec.plan.backend));
    layer->set_trained_as(std::string(attention::to_string(spec.trained_as)));
    layer->set_trained_window(spec.trained_window);
    layer->set_sink_tokens(spec.plan.sink_tokens);
    layer->set_window_tokens(spec.plan.window_tokens);
    for (const int32_t w : spec.plan.head_windows) layer->add_head_windows(w);
    if (const auto& budget = spec.plan.page_budget) {
      layer->set_top_pages(budget->top_pages);
      layer->set_page_fraction(budget->page_fraction);
      layer->set_sink_pages(budget->sink_pages);
      layer->set_recent_pages(budget->recent_pages);
    }
    layer->set_reuse_selection_of(spec.plan.reuse_selection_of);
    layer->set_cache_group(spec.cache_group);
    layer->set_rule(spec.rule);
  }
  for (const auto& group : plan.groups) {
    auto* info = response->add_cache_groups();
    info->set_kind(std::string(kvcache::to_string(group.kind)));
    info->set_layers(attention::range_text(group.layers));
    info->set_sink_tokens(group.sink_tokens);
    info->set_window_tokens(group.window_tokens);
    info->set_bytes_per_token(group.bytes_per_token);
    info->set_bytes_per_sequence(group.bytes_per_sequence);
    info->set_bytes_per_page(group.bytes_per_page);
  }
  const auto stats = engine_.stats();
  response->set_prefix_cache(stats.prefix_cache_enabled);
  response->set_kv_blocks(stats.kv_blocks_total);
  response->set_kv_block_size(stats.kv_block_size);
  return grpc::Status::OK;
}

}  // namespace strata::server
