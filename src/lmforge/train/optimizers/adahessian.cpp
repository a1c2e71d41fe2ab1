// AdaHessian: the update (formula and choices in adahessian.h) and its registration.
#include "lmforge/train/optimizers/adahessian.h"

#include <cmath>

#include "lmforge/train/optimizer.h"

namespace lmforge {

void AdaHessianOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(beta1);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(beta2);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(hessian_power);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(block);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(update_every);
}

void AdaHessianOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, beta1);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, beta2);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, hessian_power);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, block);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, update_every);
}

void AdaHessianParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_hessian_diag_sq);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(hessian);
}

void AdaHessianParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(at::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(at::Tensor, exp_hessian_diag_sq);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(at::Tensor, hessian);
}

AdaHessian::AdaHessian(std::vector<torch::optim::OptimizerParamGroup> groups, AdaHessianOptions defaults)
    : CurvatureOptimizer(std::move(groups), std::make_unique<AdaHessianOptions>(defaults)),
      update_every_(defaults.update_every()) {
  LMF_REQUIRE(update_every_ >= 1, ConfigError, "AdaHessian: update_every must be >= 1, got ", update_every_);
}

bool AdaHessian::wants_hessian(int64_t step) const {
  if (step % update_every_ == 0) return true;
  // Between refreshes the stored D is reused; without one (a run resumed at such a step from a
  // checkpoint without estimates) take a product now.
  for (const auto& [key, st] : state_)
    if (static_cast<const AdaHessianParamState&>(*st).hessian().defined()) return false;
  return true;
}

void AdaHessian::set_hessian_vector_products(std::vector<at::Tensor> hz, std::vector<at::Tensor> /*z*/) {
  // D = |z * Hz| = |Hz| since |z| = 1 (the reference code's choice; adahessian.h says why).
  fresh_.assign(hz.size(), at::Tensor());
  size_t i = 0;
  for (const auto& g : param_groups()) {
    const int64_t block = static_cast<const AdaHessianOptions&>(g.options()).block();
    for (size_t j = 0; j < g.params().size(); ++j, ++i)
      if (i < hz.size() && hz[i].defined()) fresh_[i] = block_average(hz[i].abs(), block);
  }
}

at::Tensor AdaHessian::step(LossClosure closure) {
  LMF_REQUIRE(!closure, UserError, "AdaHessian::step: closures are not supported (the training step supplies H z)");
  at::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const AdaHessianOptions&>(group.options());
    for (auto& p : group.params()) {
      const size_t idx = i++;
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto s = std::make_unique<AdaHessianParamState>();
        s->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_hessian_diag_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(s)).first;
      }
      auto& s = static_cast<AdaHessianParamState&>(*it->second);
      at::Tensor d = idx < fresh_.size() && fresh_[idx].defined() ? fresh_[idx] : s.hessian();
      if (!d.defined()) continue;  // no estimate yet for this parameter (see adahessian.h)
      if (update_every_ > 1) s.hessian(d);
      s.step(s.step() + 1);
      const double t = static_cast<double>(s.step());
      const at::Tensor g = p.grad();
      s.exp_avg().mul_(o.beta1()).add_(g, 1 - o.beta1());
      s.exp_hessian_diag_sq().mul_(o.beta2()).addcmul_(d, d, 1 - o.beta2());
      const double bias1 = 1 - std::pow(o.beta1(), t), bias2 = 1 - std::pow(o.beta2(), t);
      at::Tensor denom = (s.exp_hessian_diag_sq().sqrt() / std::sqrt(bias2));
      if (o.hessian_power() != 1.0) denom = denom.pow(o.hessian_power());
      denom.add_(o.eps());
      // w <- w - lr (m^ / denom + wd w), with the decay on the old w (decoupled).
      if (o.weight_decay() != 0) p.mul_(1 - o.lr() * o.weight_decay());
      p.addcdiv_(s.exp_avg(), denom, -o.lr() / bias1);
    }
  }
  fresh_.clear();
  return {};
}

void AdaHessian::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<AdaHessianParamState, AdaHessianOptions>(archive, *this);
}

void AdaHessian::load(torch::serialize::InputArchive& archive) {
  torch::optim::serialize<AdaHessianParamState, AdaHessianOptions>(archive, *this);
}

namespace {

struct AdaHessianConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-4, hessian_power = 1.0;
  int64_t block = 32, update_every = 1;
  template <class V>
  void visit(V& v) {
    v("beta1", beta1, "first-moment (gradient) decay");
    v("beta2", beta2, "decay of the EMA of the squared Hessian-diagonal estimate");
    v("eps", eps, "added to the denominator after the power (the reference's 1e-4)");
    v("hessian_power", hessian_power, "k in (sqrt(v^))^k: 1 = Newton-like, 0.5 = milder");
    v("block", block, "2-D weights: average |Hz| over row-major blocks of this many entries; 0 = whole row");
    v("update_every", update_every, "take a Hessian-vector product every N steps, reuse it in between");
  }
};

const bool kRegistered = OptimizerRegistry::add<AdaHessianConfig>(
    "adahessian", "AdaHessian: Adam-like step over a Hutchinson estimate of the Hessian diagonal",
    [](const AdaHessianConfig& o, const OptimizerContext& c) -> std::shared_ptr<torch::optim::Optimizer> {
      LMF_REQUIRE(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, ConfigError,
                  "config key 'train.optimizer': adahessian betas must be in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
      LMF_REQUIRE(o.eps >= 0, ConfigError, "config key 'train.optimizer.eps': must be >= 0, got ", o.eps);
      LMF_REQUIRE(o.hessian_power > 0 && o.hessian_power <= 1, ConfigError,
                  "config key 'train.optimizer.hessian_power': must be in (0, 1], got ", o.hessian_power);
      LMF_REQUIRE(o.block >= 0, ConfigError, "config key 'train.optimizer.block': must be >= 0, got ", o.block);
      LMF_REQUIRE(o.update_every >= 1, ConfigError, "config key 'train.optimizer.update_every': must be >= 1, got ",
                  o.update_every);
      AdaHessianOptions base(c.lr);
      base.beta1(o.beta1).beta2(o.beta2).eps(o.eps).hessian_power(o.hessian_power).block(o.block).update_every(
          o.update_every);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      for (const auto& g : c.groups) {
        AdaHessianOptions go = base;
        go.lr(c.lr * g.lr_scale).weight_decay(g.weight_decay);
        groups.emplace_back(g.params, std::make_unique<AdaHessianOptions>(go));
      }
      return std::make_shared<AdaHessian>(std::move(groups), base);
    });

}  // namespace
}  // namespace lmforge
