#include "server/cli/model_option.h"

#include <spdlog/spdlog.h>

#include "engine/attention/plan_description.h"
#include "server/cli/commands.h"

namespace strata::cli {

void add_attention_option(ArgParser& p) {
  p.option("--attention", "FILE", "per-layer attention layout (JSON, see configs/attention/; default: every layer full)");
}

attention::AttentionLayout attention_layout(const ArgParser& p) {
  if (!p.has("--attention")) return {};
  return attention::AttentionLayout::load(p.get_string("--attention"));
}

void log_attention_plan(const attention::AttentionPlan& plan) {
  spdlog::info("attention: {}", plan.source.empty() ? "the model's own" : plan.source);
  for (const auto& line : attention::describe_plan_lines(plan)) spdlog::info("  {}", line);
}

runtime::LoadedModel load_model(const ArgParser& p) {
  auto model = runtime::LoadedModel::load(p.get_string("--model"), threads_option(p), attention_layout(p));
  log_attention_plan(model.model->attention_plan());
  return model;
}

}  // namespace strata::cli
