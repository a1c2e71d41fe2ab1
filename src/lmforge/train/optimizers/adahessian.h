// AdaHessian (Yao, Gholami, Shen, Mustafa, Keutzer, Mahoney: "ADAHESSIAN: An Adaptive Second
// Order Optimizer for Machine Learning", AAAI 2021; code: amirgholami/adahessian).
//
// Per parameter tensor, step t, gradient g, Hessian-vector product h = H z (train/hessian.h):
//   D  = block_average(|h|)                      Hutchinson diagonal magnitude, block-averaged
//   m  = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) D^2
//   denom = (sqrt(v) / sqrt(1 - b2^t))^k + eps   (k = hessian_power; eps after the power)
//   w  = w - lr (m / (1 - b1^t) / denom + wd w)  (decoupled weight decay, the reference's form)
// We average |h| (|z * Hz| = |Hz|), as all the reference code does, not the signed z * Hz of the
// paper's formula: the signed block mean can be ~0 or negative for an indefinite Hessian, and the
// step would then blow up (denom -> eps); |h| keeps the denominator a curvature magnitude.
// With update_every = N > 1 the product is taken every N steps and the last D is reused in
// between (the "delayed Hessian" of davda54/ada-hessian), so the EMA still advances every step.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include "lmforge/train/hessian.h"

namespace lmforge {

struct AdaHessianOptions : public torch::optim::OptimizerCloneableOptions<AdaHessianOptions> {
  AdaHessianOptions(double lr = 0.15) : lr_(lr) {}
  TORCH_ARG(double, lr) = 0.15;
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-4;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(double, hessian_power) = 1.0;
  TORCH_ARG(int64_t, block) = 32;
  TORCH_ARG(int64_t, update_every) = 1;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

struct AdaHessianParamState : public torch::optim::OptimizerCloneableParamState<AdaHessianParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(at::Tensor, exp_avg);
  TORCH_ARG(at::Tensor, exp_hessian_diag_sq);
  TORCH_ARG(at::Tensor, hessian);  // the last block-averaged D; kept only when update_every > 1

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class AdaHessian : public CurvatureOptimizer {
 public:
  // update_every is taken from `defaults` (one refresh schedule for all groups).
  AdaHessian(std::vector<torch::optim::OptimizerParamGroup> groups, AdaHessianOptions defaults);

  bool wants_hessian(int64_t step) const override;
  void set_hessian_vector_products(std::vector<at::Tensor> hz, std::vector<at::Tensor> z) override;
  // A parameter with a gradient but no curvature estimate yet (it had no gradient on every
  // refresh so far) is left unchanged: its denominator would be eps alone.
  at::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  int64_t update_every_;
  std::vector<at::Tensor> fresh_;  // block-averaged |Hz| per curvature_params(), this step only
};

}  // namespace lmforge
