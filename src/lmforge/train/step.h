// One optimizer step: forward and backward over the micro-batches (gradient accumulation),
// gradient all-reduce, global-norm clipping, the update. Shared by the trainer and the
// step benchmark so that what is timed is exactly what trains.
#pragma once
#include <vector>

#include <torch/optim/optimizer.h>

#include "lmforge/train/dist.h"
#include "lmforge/train/task.h"

namespace lmforge {

class LanguageModel;

struct StepResult {
  double loss = 0;       // mean over micro-batches of the mean token loss (aux losses included)
  double grad_norm = 0;  // before clipping
};

StepResult train_step(LanguageModel& model, torch::optim::Optimizer& opt, const std::vector<Batch>& micro_batches,
                      at::ScalarType dtype, const at::Device& dev, double grad_clip, Distributed& dist);

}  // namespace lmforge
