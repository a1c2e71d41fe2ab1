#include "lmforge/train/step.h"

#include <torch/nn/utils/clip_grad.h>

#include "lmforge/core/precision.h"
#include "lmforge/models/language_model.h"
#include "lmforge/nn/step_hooks.h"
#include "lmforge/train/loss.h"

namespace lmforge {

StepResult train_step(LanguageModel& model, torch::optim::Optimizer& opt, const std::vector<Batch>& micro_batches,
                      at::ScalarType dtype, const at::Device& dev, double grad_clip, Distributed& dist) {
  StepResult r;
  const double k = static_cast<double>(micro_batches.size());
  // Scored tokens of each micro-batch over all ranks. A rank divides its loss sum by that global
  // count / world (the gradient all-reduce averages over ranks), so W ranks take exactly one
  // process's step even when they score different numbers of tokens (MLM masks).
  std::vector<double> counts(micro_batches.size());
  for (size_t i = 0; i < micro_batches.size(); ++i) counts[i] = (micro_batches[i].targets != -100).sum().item<double>();
  dist.all_reduce_sum(counts);
  const double world = dist.world();
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    const Batch& b = micro_batches[i];
    at::Tensor loss;
    {
      AutocastGuard ac(dtype, dev);
      ForwardContext ctx;
      ctx.training = true;
      at::Tensor h = model.hidden(b.inputs.to(dev), ctx);
      at::Tensor sum = lm_loss_sum(model, h, b.targets.to(dev)).first;
      loss = sum / (std::max(counts[i], 1.0) / world);
      for (const auto& [name, aux] : ctx.aux_losses) loss = loss + aux;
    }
    dist.set_sync(i + 1 == micro_batches.size());  // only the last backward all-reduces
    (loss / k).backward();
    r.loss += loss.item<double>() / k;
  }
  std::vector<at::Tensor> params = model.parameters();
  dist.finish_gradient_sync(params);  // waits for the buckets: the mean gradient over ranks
  run_before_optimizer_step(model, opt);  // e.g. RigL: dense gradient -> new mask, masked gradient
  r.grad_norm = torch::nn::utils::clip_grad_norm_(params, grad_clip > 0 ? grad_clip : 1e30);
  opt.step();
  run_after_optimizer_step(model);  // e.g. re-apply sparsity masks
  // Drop the gradients rather than zeroing them: less memory traffic, and no stale graphs.
  for (auto& p : params) p.mutable_grad() = at::Tensor();
  return r;
}

}  // namespace lmforge
