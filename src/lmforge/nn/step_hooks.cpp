#include "lmforge/nn/step_hooks.h"

namespace lmforge {

void run_before_optimizer_step(torch::nn::Module& model, torch::optim::Optimizer& opt) {
  if (auto* h = dynamic_cast<StepHook*>(&model)) h->before_optimizer_step(opt);
  for (const auto& m : model.modules(/*include_self=*/false))
    if (auto* h = dynamic_cast<StepHook*>(m.get())) h->before_optimizer_step(opt);
}

void run_after_optimizer_step(torch::nn::Module& model) {
  if (auto* h = dynamic_cast<StepHook*>(&model)) h->after_optimizer_step();
  for (const auto& m : model.modules(/*include_self=*/false))
    if (auto* h = dynamic_cast<StepHook*>(m.get())) h->after_optimizer_step();
}

}  // namespace lmforge
