// The Adam-family optimiser class, its moments, the plain rule, and the state-bytes count; see
// adam_family.h.
#include "lmforge/train/optimizers/adam_family.h"

#include <cmath>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "lmforge/core/error.h"
#include "lmforge/train/optimizers/adam_kernel.h"

namespace lmforge {

AdamMoments::AdamMoments(at::IntArrayRef shape, bool eight_bit) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  quantized_ = eight_bit && n >= kMinQuantized;
  at::Tensor zeros = at::zeros(shape, at::kFloat);
  if (quantized_) {
    qm_ = quantize_blockwise(zeros, true);
    qv_ = quantize_blockwise(zeros, false);
  } else {
    m_ = zeros;
    v_ = zeros.clone();
  }
}

namespace {

AdamCoeffs coeffs_at(int64_t t, const AdamHyper& h, double lr = 0, double wd = 0) {
  return adam_coeffs(h.beta1, h.beta2, h.eps, t, lr, wd);
}

bool fusable(const at::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous(); }

}  // namespace

void AdamMoments::advance(const at::Tensor& g, const AdamCoeffs& c, float* dir, float* w) {
  // The moments live on the CPU, and the kernels read them through pointers.
  LMF_REQUIRE(g.device().is_cpu(), UserError, "the adamw8bit / galore / gradnormlorp optimizers keep their state on ",
              "the CPU; a gradient on ", g.device(), " is not supported yet");
  if (quantized_) {
    adam_step_8bit(qm_, qv_, g, c, dir, w);
  } else {
    at::Tensor g32 = g.to(at::kFloat).contiguous();
    adam_fused_fp32(m_.data_ptr<float>(), v_.data_ptr<float>(), g32.data_ptr<float>(), g32.numel(), c, dir, w);
  }
}

at::Tensor AdamMoments::direction(const at::Tensor& g, int64_t t, const AdamHyper& h) {
  at::Tensor dir = at::empty(g.sizes(), g.options().dtype(at::kFloat));
  advance(g, coeffs_at(t, h), dir.data_ptr<float>(), nullptr);
  return dir;
}

bool AdamMoments::step_weight(at::Tensor& w, const at::Tensor& g, int64_t t, const AdamHyper& h, double lr, double wd) {
  if (!fusable(w)) return false;
  advance(g, coeffs_at(t, h, lr, wd), nullptr, w.data_ptr<float>());
  return true;
}

int64_t AdamMoments::bytes() const {
  return quantized_ ? qm_.bytes() + qv_.bytes() : (m_.numel() + v_.numel()) * 4;
}

void AdamMoments::save(torch::serialize::OutputArchive& a, const std::string& prefix) const {
  if (quantized_) {
    a.write(prefix + "m.codes", qm_.codes, true), a.write(prefix + "m.absmax", qm_.absmax, true);
    a.write(prefix + "v.codes", qv_.codes, true), a.write(prefix + "v.absmax", qv_.absmax, true);
  } else {
    a.write(prefix + "m", m_, true), a.write(prefix + "v", v_, true);
  }
}


void AdamMoments::load(torch::serialize::InputArchive& a, const std::string& prefix) {
  if (quantized_) {
    read_optimizer_state(a, prefix + "m.codes", qm_.codes), read_optimizer_state(a, prefix + "m.absmax", qm_.absmax);
    read_optimizer_state(a, prefix + "v.codes", qv_.codes), read_optimizer_state(a, prefix + "v.absmax", qv_.absmax);
  } else {
    read_optimizer_state(a, prefix + "m", m_), read_optimizer_state(a, prefix + "v", v_);
  }
}

namespace {

class AdamRule : public ParamRule {
 public:
  AdamRule(const at::Tensor& p, bool eight_bit) : moments_(p.sizes(), eight_bit) {}
  void step(at::Tensor& w, const at::Tensor& grad, double lr, double wd, int64_t t, const AdamHyper& h) override {
    if (moments_.step_weight(w, grad, t, h, lr, wd)) return;  // one fused pass (adam_kernel.h)
    if (wd != 0) w.mul_(1 - lr * wd);
    w.add_(moments_.direction(grad, t, h).to(w.scalar_type()), -lr);
  }
  int64_t state_bytes() const override { return moments_.bytes(); }
  void save(torch::serialize::OutputArchive& a, const std::string& prefix) const override { moments_.save(a, prefix); }
  void load(torch::serialize::InputArchive& a, const std::string& prefix) override { moments_.load(a, prefix); }

 private:
  AdamMoments moments_;
};

std::vector<torch::optim::OptimizerParamGroup> torch_groups(const std::vector<ParamGroup>& groups, double lr,
                                                            const AdamHyper& h) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  for (const auto& g : groups)
    out.emplace_back(g.params, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr * g.lr_scale)
                                                                                .betas({h.beta1, h.beta2})
                                                                                .eps(h.eps)
                                                                                .weight_decay(g.weight_decay)));
  return out;
}

}  // namespace

std::unique_ptr<ParamRule> make_adam_rule(const at::Tensor& p, bool eight_bit) {
  return std::make_unique<AdamRule>(p, eight_bit);
}

AdamFamily::AdamFamily(const std::vector<ParamGroup>& groups, double lr, const AdamHyper& h, const RuleFactory& rule_for)
    : torch::optim::Optimizer(torch_groups(groups, lr, h),
                              std::make_unique<torch::optim::AdamWOptions>(
                                  torch::optim::AdamWOptions(lr).betas({h.beta1, h.beta2}).eps(h.eps))),
      h_(h) {
  for (const auto& g : groups) {
    rules_.emplace_back();
    for (size_t i = 0; i < g.params.size(); ++i)
      rules_.back().push_back(rule_for(i < g.names.size() ? g.names[i] : std::string(), g.params[i]));
  }
}

at::Tensor AdamFamily::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss;
  if (closure) {
    at::AutoGradMode grad_on(true);
    loss = closure();
  }
  ++t_;
  for (size_t gi = 0; gi < param_groups().size(); ++gi) {
    auto& group = param_groups()[gi];
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (size_t i = 0; i < group.params().size(); ++i) {
      at::Tensor& p = group.params()[i];
      if (!p.grad().defined()) continue;
      rules_[gi][i]->step(p, p.grad(), o.lr(), o.weight_decay(), t_, h_);
    }
  }
  return loss;
}

int64_t AdamFamily::state_bytes() const {
  int64_t b = 0;
  for (const auto& g : rules_)
    for (const auto& r : g) b += r->state_bytes();
  return b;
}

void AdamFamily::save(torch::serialize::OutputArchive& a) const {
  a.write("adam_family.step", at::tensor(t_), true);
  for (size_t g = 0; g < rules_.size(); ++g)
    for (size_t i = 0; i < rules_[g].size(); ++i) rules_[g][i]->save(a, "g" + std::to_string(g) + ".p" + std::to_string(i) + ".");
}

void AdamFamily::load(torch::serialize::InputArchive& a) {
  at::Tensor t;
  read_optimizer_state(a, "adam_family.step", t);
  t_ = t.item<int64_t>();
  for (size_t g = 0; g < rules_.size(); ++g)
    for (size_t i = 0; i < rules_[g].size(); ++i) rules_[g][i]->load(a, "g" + std::to_string(g) + ".p" + std::to_string(i) + ".");
}

AdamHyper AdamOptionsBase::hyper(bool eight_bit, const std::string& where) const {
  LMF_REQUIRE(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, ConfigError, "config key '", where,
              "': betas must be in [0, 1), got (", beta1, ", ", beta2, ")");
  LMF_REQUIRE(eps > 0, ConfigError, "config key '", where, ".eps': must be positive, got ", eps);
  AdamHyper h;
  h.beta1 = beta1, h.beta2 = beta2, h.eps = eps, h.eight_bit = eight_bit;
  return h;
}

int64_t optimizer_state_bytes(const torch::optim::Optimizer& opt) {
  if (const auto* fam = dynamic_cast<const AdamFamily*>(&opt)) return fam->state_bytes();
  auto bytes = [](const at::Tensor& t) { return t.defined() ? static_cast<int64_t>(t.numel() * t.element_size()) : 0; };
  int64_t b = 0;
  for (const auto& [key, st] : opt.state()) {
    if (const auto* s = dynamic_cast<const torch::optim::AdamWParamState*>(st.get()))
      b += bytes(s->exp_avg()) + bytes(s->exp_avg_sq()) + bytes(s->max_exp_avg_sq());
    else if (const auto* s = dynamic_cast<const torch::optim::AdamParamState*>(st.get()))
      b += bytes(s->exp_avg()) + bytes(s->exp_avg_sq()) + bytes(s->max_exp_avg_sq());
    else if (const auto* s = dynamic_cast<const torch::optim::SGDParamState*>(st.get()))
      b += bytes(s->momentum_buffer());
  }
  return b;
}

}  // namespace lmforge
