#include "lmforge/train/step.h"

#include <cmath>
#include <optional>

#include <torch/nn/utils/clip_grad.h>

#include "lmforge/core/precision.h"
#include "lmforge/nn/step_hooks.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/train/hessian.h"

namespace lmforge {

namespace {

// The global L2 norm of the gradients, as clip_grad_norm_ computes it, without its write pass
// over every gradient (clip_grad_norm_ multiplies by min(1, clip / norm) even when that is 1).
double global_grad_norm(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  if (norms.empty()) return 0.0;
  return (norms.size() == 1 ? norms[0] : at::stack(norms).norm(2)).item<double>();
}

}  // namespace

StepResult train_step(torch::nn::Module& model, Task& task, torch::optim::Optimizer& opt,
                      const std::vector<Batch>& micro_batches, const StepOptions& o, Distributed& dist) {
  StepResult r;
  const double k = static_cast<double>(micro_batches.size());
  // Scored tokens of each micro-batch over all ranks. A rank divides its loss sum by that global
  // count / world (the gradient all-reduce averages over ranks), so W ranks take exactly one
  // process's step even when they score different numbers of tokens (MLM masks).
  std::vector<double> counts(micro_batches.size());
  for (size_t i = 0; i < micro_batches.size(); ++i) counts[i] = static_cast<double>(task.loss_count(micro_batches[i]));
  dist.all_reduce_sum(counts);
  const double world = dist.world();
  // A curvature optimiser (AdaHessian) asks for H z on some steps: then each micro-batch's
  // gradient is taken with create_graph and multiplied by the same probe z (train/hessian.h),
  // with fused operators on their reference paths. Every other step is the plain backward below.
  auto* curvature = dynamic_cast<CurvatureOptimizer*>(&opt);
  LMF_REQUIRE(!curvature || dist.world() == 1, UserError, "train.optimizer = a second-order optimiser runs on one "
              "process only (--nproc ", dist.world(), "): its Hessian-vector products are not all-reduced yet");
  const bool hessian = curvature && curvature->wants_hessian(o.step);
  std::optional<SecondOrderScope> second_order;
  std::vector<at::Tensor> hparams, probes, hz;
  if (hessian) {
    second_order.emplace();
    hparams = curvature->curvature_params();
    probes = rademacher_probes(hparams, o.seed, o.step);
    hz.resize(hparams.size());
  }
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    const Batch& b = micro_batches[i];
    at::Tensor loss;
    {
      AutocastGuard ac(o.dtype, o.device);
      ForwardContext ctx;
      ctx.training = true;
      LossSum l = task.loss(model, b.to(o.device), ctx);
      loss = l.sum / (std::max(counts[i], 1.0) / world);
      for (const auto& [name, aux] : ctx.aux_losses) loss = loss + aux;
    }
    dist.set_sync(i + 1 == micro_batches.size());  // only the last backward all-reduces
    if (hessian)
      accumulate_gradient_and_hvp(loss / k, hparams, probes, hz, model);
    else
      (loss / k).backward();
    r.loss += loss.item<double>() / k;
  }
  std::vector<at::Tensor> params = model.parameters();
  dist.finish_gradient_sync(params);  // waits for the buckets: the mean gradient over ranks
  auto drop_gradients = [&] {
    // Dropped rather than zeroed: less memory traffic, and no stale graphs.
    for (auto& p : params) p.mutable_grad() = at::Tensor();
  };
  // Measured before the hooks touch the gradients; all ranks see the same all-reduced norm, so
  // they all take the same branch below.
  r.grad_norm = global_grad_norm(params);
  const double loss_all = dist.all_reduce_mean(r.loss);  // what rank 0 logs: the mean over ranks
  r.loss = loss_all;
  if (!std::isfinite(loss_all) || !std::isfinite(r.grad_norm)) {
    drop_gradients();
    if (o.on_nonfinite != "skip")
      throw NonFiniteError(str("non-finite training at step ", o.step + 1, ": loss ", r.loss, ", gradient norm ",
                               r.grad_norm, " (lower train.lr, raise train.warmup_steps, or set "
                               "train.on_nonfinite = \"skip\")"));
    r.skipped = true;
    return r;
  }
  if (hessian) {
    second_order.reset();
    curvature->set_hessian_vector_products(std::move(hz), std::move(probes));
  }
  run_before_optimizer_step(model, opt);  // e.g. RigL: dense gradient -> new mask, masked gradient
  if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
  opt.step();
  run_after_optimizer_step(model);  // e.g. re-apply sparsity masks
  drop_gradients();
  return r;
}

}  // namespace lmforge
