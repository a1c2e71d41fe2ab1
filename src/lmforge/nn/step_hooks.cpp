#include "lmforge/nn/step_hooks.h"

namespace lmforge {

void run_before_optimizer_step(torch::nn::Module& model, torch::optim::Optimizer& opt) {
  for (const auto& m : model.modules(/*include_self=*/true))
    if (auto* h = dynamic_cast<StepHook*>(m.get())) h->before_optimizer_step(opt);
}

void run_after_optimizer_step(torch::nn::Module& model) {
  for (const auto& m : model.modules(/*include_self=*/true))
    if (auto* h = dynamic_cast<StepHook*>(m.get())) h->after_optimizer_step();
}

}  // namespace lmforge
