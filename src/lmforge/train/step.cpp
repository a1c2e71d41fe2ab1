#include "lmforge/train/step.h"

#include <cmath>

#include <torch/nn/utils/clip_grad.h>

#include "lmforge/core/precision.h"
#include "lmforge/nn/step_hooks.h"

namespace lmforge {

StepResult train_step(torch::nn::Module& model, Task& task, torch::optim::Optimizer& opt,
                      const std::vector<Batch>& micro_batches, const StepOptions& o, Distributed& dist) {
  StepResult r;
  const double k = static_cast<double>(micro_batches.size());
  for (const Batch& b : micro_batches) {
    at::Tensor loss;
    {
      AutocastGuard ac(o.dtype, o.device);
      ForwardContext ctx;
      ctx.training = true;
      LossSum l = task.loss(model, b.to(o.device), ctx);
      loss = l.sum / static_cast<double>(std::max<int64_t>(l.count, 1));
      for (const auto& [name, aux] : ctx.aux_losses) loss = loss + aux;
    }
    (loss / k).backward();
    r.loss += loss.item<double>() / k;
  }
  std::vector<at::Tensor> params = model.parameters();
  dist.all_reduce_gradients(params);
  auto drop_gradients = [&] {
    // Dropped rather than zeroed: less memory traffic, and no stale graphs.
    for (auto& p : params) p.mutable_grad() = at::Tensor();
  };
  // Measured before the hooks touch the gradients; all ranks see the same all-reduced norm, so
  // they all take the same branch below.
  r.grad_norm = torch::nn::utils::clip_grad_norm_(params, 1e30);  // measures; a clip at 1e30 scales nothing
  const double loss_all = dist.all_reduce_mean(r.loss);
  if (!std::isfinite(loss_all) || !std::isfinite(r.grad_norm)) {
    drop_gradients();
    if (o.on_nonfinite != "skip")
      throw NonFiniteError(str("non-finite training at step ", o.step + 1, ": loss ", r.loss, ", gradient norm ",
                               r.grad_norm, " (lower train.lr, raise train.warmup_steps, or set "
                               "train.on_nonfinite = \"skip\")"));
    r.skipped = true;
    return r;
  }
  run_before_optimizer_step(model, opt);  // e.g. RigL: dense gradient -> new mask, masked gradient
  if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
  opt.step();
  run_after_optimizer_step(model);  // e.g. re-apply sparsity masks
  drop_gradients();
  return r;
}

}  // namespace lmforge
