// Hooks that a module can implement to act around the optimizer step (the trainer's only extension
// point for training-time weight surgery). Used by Sparse-IFT's masked layers: RigL (Evci et al.
// 2020) needs the dense gradient after backward to regrow connections, the masked gradient for the
// update, and the mask re-applied to the weights after the update.
// train_step (train/step.cpp) calls, once per optimizer step:
//   backward (all micro-batches) -> gradient all-reduce -> before_optimizer_step(opt)
//   -> clip -> opt.step() -> after_optimizer_step()
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace lmforge {

class StepHook {
 public:
  virtual ~StepHook() = default;
  // Gradients are complete (and all-reduced); the optimizer has not stepped yet.
  virtual void before_optimizer_step(torch::optim::Optimizer& opt) {}
  // The optimizer has stepped.
  virtual void after_optimizer_step() {}
};

// Calls the hook on every submodule of `model` that implements StepHook (in module order).
void run_before_optimizer_step(torch::nn::Module& model, torch::optim::Optimizer& opt);
void run_after_optimizer_step(torch::nn::Module& model);

}  // namespace lmforge
