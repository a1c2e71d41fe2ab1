#include "lmforge/nn/sparse_ift.h"

#include <cmath>
#include <limits>

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "lmforge/core/error.h"

namespace lmforge {

at::Tensor rigl_update_mask(const at::Tensor& weight, const at::Tensor& dense_grad, const at::Tensor& mask, int64_t k) {
  at::Tensor m = mask.detach().reshape(-1).to(at::kFloat).clone();
  if (k <= 0) return m.view(mask.sizes()).to(mask.scalar_type());
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor active = m > 0.5;
  k = std::min<int64_t>(k, active.sum().item<int64_t>());
  // Drop: the k active weights of smallest magnitude.
  at::Tensor drop_score = at::where(active, weight.detach().reshape(-1).abs().to(at::kFloat), at::full({}, inf));
  at::Tensor drop = std::get<1>(at::topk(drop_score, k, 0, /*largest=*/false));
  m.index_fill_(0, drop, 0.0);
  // Grow: the k positions inactive after the drop with the largest dense-gradient magnitude.
  at::Tensor grow_score = at::where(m > 0.5, at::full({}, -inf), dense_grad.detach().reshape(-1).abs().to(at::kFloat));
  at::Tensor grow = std::get<1>(at::topk(grow_score, k, 0, /*largest=*/true));
  m.index_fill_(0, grow, 1.0);
  return m.view(mask.sizes()).to(mask.scalar_type());
}

double rigl_drop_fraction(const RiglOptions& o, int64_t t) {
  if (o.end_step <= 0 || t >= o.end_step) return 0.0;
  return o.fraction * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(o.end_step)));
}

SparseIftLinear::SparseIftLinear(int64_t in, int64_t out, int64_t branches, double density, int64_t lowrank,
                                 bool with_bias, double std, const RiglOptions& rigl)
    : rigl_(rigl) {
  LMF_REQUIRE(density > 0 && density <= 1, ConfigError, "sparse_mlp: density ", density, " must be in (0, 1]");
  LMF_REQUIRE(rigl.mode == "static" || rigl.mode == "rigl", ConfigError, "sparse_mlp.mask: expected \"static\" or \"rigl\", got \"",
              rigl.mode, "\"");
  LMF_REQUIRE(rigl.mode != "rigl" || density == 1 || rigl.end_step > 0, ConfigError,
              "sparse_mlp.rigl_end_step must be set for mask = \"rigl\" (the paper stops updates at 0.75 * train.steps)");
  LMF_REQUIRE(rigl.every >= 1 && rigl.fraction >= 0 && rigl.fraction <= 1, ConfigError,
              "sparse_mlp: rigl_every must be >= 1 and rigl_fraction in [0, 1]");
  std::vector<int64_t> shape = branches == 1 ? std::vector<int64_t>{out, in} : std::vector<int64_t>{branches, out, in};
  weight = register_parameter("weight", at::empty(shape));
  torch::NoGradGuard g;
  weight.normal_(0.0, std);
  if (with_bias) bias = register_parameter("bias", at::zeros({out}));
  nnz_ = weight.numel();
  if (density < 1) {
    // A random mask with exactly round(density * numel) non-zeros (per tensor: cbsparse's "uniform").
    nnz_ = std::max<int64_t>(1, std::llround(density * static_cast<double>(weight.numel())));
    at::Tensor m = at::zeros({weight.numel()});
    m.index_fill_(0, at::randperm(weight.numel()).narrow(0, 0, nnz_), 1.0);
    mask = register_buffer("mask", m.view(shape));
    step = register_buffer("step", at::zeros({}, at::kLong));
    weight.mul_(mask);
  }
  if (lowrank > 0) {
    lowrank_u = register_parameter("lowrank_u", at::empty({lowrank, in}).normal_(0.0, std));
    lowrank_v = register_parameter("lowrank_v", at::empty({out, lowrank}).normal_(0.0, std));
  }
}

double SparseIftLinear::flops_per_row() const {
  double f = 2.0 * static_cast<double>(nnz_);
  if (lowrank_u.defined()) f += 2.0 * static_cast<double>(lowrank_u.numel() + lowrank_v.numel());
  return f;
}

at::Tensor SparseIftLinear::forward(const at::Tensor& x) const {
  // Masked entries of `weight` are exactly zero (kept so by the step hooks), so no multiply here:
  // the gradient w.r.t. weight is then the dense gradient RigL grows by.
  at::Tensor w = weight.dim() == 3 ? weight.sum(0) : weight;
  at::Tensor y = at::linear(x, w, bias);
  if (lowrank_u.defined()) y = y + at::linear(at::linear(x, lowrank_u), lowrank_v);
  return y;
}

// Multiplies the optimizer's per-parameter state of `p` by `keep` (AdamW moments, SGD momentum).
static void scale_optimizer_state(torch::optim::Optimizer& opt, const at::Tensor& p, const at::Tensor& keep) {
  auto& st = opt.state();
  auto it = st.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
  if (it == st.end()) return;
  if (auto* a = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
    a->exp_avg().mul_(keep);
    a->exp_avg_sq().mul_(keep);
    if (a->max_exp_avg_sq().defined()) a->max_exp_avg_sq().mul_(keep);
  } else if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
    if (s->momentum_buffer().defined()) s->momentum_buffer().mul_(keep);
  }
}

void SparseIftLinear::before_optimizer_step(torch::optim::Optimizer& opt) {
  if (!mask.defined() || !weight.grad().defined()) return;
  torch::NoGradGuard g;
  const int64_t t = step.item<int64_t>();
  if (rigl_.mode == "rigl" && t > 0 && t % rigl_.every == 0 && t < rigl_.end_step) {
    const int64_t k = static_cast<int64_t>(std::floor(rigl_drop_fraction(rigl_, t) * static_cast<double>(nnz_)));
    at::Tensor fresh = rigl_update_mask(weight, weight.grad(), mask, k);
    weight.mul_(fresh * mask);  // dropped -> 0; grown start at 0 (they were 0 already)
    // New connections start from a clean optimizer state; dropped ones are cleared too.
    scale_optimizer_state(opt, weight, fresh * mask);
    mask.copy_(fresh);
  }
  weight.mutable_grad().mul_(mask);  // the update sees only active connections
}

void SparseIftLinear::after_optimizer_step() {
  if (!mask.defined()) return;
  torch::NoGradGuard g;
  weight.mul_(mask);  // AdamW moments of just-dropped weights would otherwise move them
  step.add_(1);
}

}  // namespace lmforge
