// One optimizer step of any task: forward and backward over the micro-batches (gradient
// accumulation), the task's loss plus every auxiliary loss the model leaves in its ForwardContext
// (MoE balance, routing commitment), gradient all-reduce, the modules' step hooks (Sparse-IFT
// masks, RigL), global-norm clipping, the update. Shared by the loop (train/loop.h) and the step
// benchmark, so that what is timed is exactly what trains.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "lmforge/train/dist.h"
#include "lmforge/train/task.h"

namespace lmforge {

struct StepOptions {
  at::ScalarType dtype = at::kFloat;  // autocast precision
  at::Device device = at::kCPU;
  double grad_clip = 1.0;  // global-norm clip; 0 = off (the norm is still measured)
  // A NaN/Inf loss or gradient: "stop" throws NonFiniteError before the update (weights untouched);
  // "skip" drops the gradients and reports the step as skipped.
  std::string on_nonfinite = "stop";
  int64_t step = 0;  // for messages, and a curvature optimiser's refresh schedule and probes
  uint64_t seed = 0;  // run.seed: second-order probes are drawn from (seed, step)
};

struct StepResult {
  double loss = 0;       // mean over micro-batches of the task's mean loss, aux losses included
  double grad_norm = 0;  // before clipping
  bool skipped = false;  // non-finite, update dropped (on_nonfinite = "skip")
};

// Thrown by train_step when the loss or the gradient is not finite and on_nonfinite = "stop".
struct NonFiniteError : UserError {
  using UserError::UserError;
};

StepResult train_step(torch::nn::Module& model, Task& task, torch::optim::Optimizer& opt,
                      const std::vector<Batch>& micro_batches, const StepOptions& o, Distributed& dist);

}  // namespace lmforge
