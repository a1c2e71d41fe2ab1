// GradNormLoRP; see gradnormlorp.h.
//   [train.optimizer]
//   name = "gradnormlorp"
//   rank = 128, update_gap = 200, scale = 0.25, targets = ["*layers.*"], bits = 32   # as galore
//   exact_tangent = true
#include "lmforge/train/optimizers/gradnormlorp.h"

#include "lmforge/core/error.h"
#include "lmforge/train/optimizers/galore.h"

namespace lmforge {

std::pair<at::Tensor, at::Tensor> weight_norm_grads(const at::Tensor& G, const at::Tensor& v, const at::Tensor& g,
                                                    bool exact_tangent) {
  at::Tensor norm = v.norm(2, {1}, /*keepdim=*/true);
  at::Tensor u = v / norm;
  at::Tensor dg = (G * u).sum(1);
  at::Tensor dv = exact_tangent ? G - dg.unsqueeze(1) * u : G;
  return {dv * (g.unsqueeze(1) / norm), dg};
}

namespace {

class WeightNormLowRankRule : public ParamRule {
 public:
  WeightNormLowRankRule(const at::Tensor& p, const GaLoreSettings& s, bool exact)
      : proj_(p.sizes(), s.rank, s.update_gap),
        moments_(proj_.low_rank_shape(), s.eight_bit()),
        g_moments_({p.size(0)}, s.eight_bit()),
        scale_(s.scale),
        exact_(exact) {}

  void step(at::Tensor& w, const at::Tensor& grad, double lr, double wd, int64_t t, const AdamHyper& h) override {
    if (!v_.defined()) {  // first step: the decomposition of the weight as it is now
      v_ = w.detach().to(at::kFloat).clone();
      g_ = v_.norm(2, {1});
    }
    auto [dv, dg] = weight_norm_grads(grad.to(at::kFloat), v_, g_, exact_);
    at::Tensor Nv = moments_.direction(proj_.project(dv, t), t, h);
    at::Tensor Ng = g_moments_.direction(dg, t, h);
    if (wd != 0) v_.mul_(1 - lr * wd), g_.mul_(1 - lr * wd);
    v_.add_(proj_.project_back(Nv), -lr * scale_);
    g_.add_(Ng, -lr);
    w.copy_(g_.unsqueeze(1) * v_ / v_.norm(2, {1}, true));
  }
  int64_t state_bytes() const override {
    return proj_.bytes() + moments_.bytes() + g_moments_.bytes() + (v_.defined() ? (v_.numel() + g_.numel()) * 4 : 0);
  }
  void save(torch::serialize::OutputArchive& a, const std::string& prefix) const override {
    proj_.save(a, prefix);
    moments_.save(a, prefix);
    g_moments_.save(a, prefix + "g.");
    a.write(prefix + "wn.v", v_.defined() ? v_ : at::empty({0}), true);
    a.write(prefix + "wn.g", g_.defined() ? g_ : at::empty({0}), true);
  }
  void load(torch::serialize::InputArchive& a, const std::string& prefix) override {
    proj_.load(a, prefix);
    moments_.load(a, prefix);
    g_moments_.load(a, prefix + "g.");
    at::Tensor v, g;  // empty until the first step
    read_optimizer_state(a, prefix + "wn.v", v), read_optimizer_state(a, prefix + "wn.g", g);
    v_ = v.numel() ? v : at::Tensor();
    g_ = g.numel() ? g : at::Tensor();
  }

 private:
  LowRankProjector proj_;
  AdamMoments moments_, g_moments_;
  double scale_;
  bool exact_;
  at::Tensor v_, g_;  // direction and row magnitudes; defined from the first step on
};

struct GradNormLoRPConfig : AdamOptionsBase {
  GaLoreSettings s;
  bool exact_tangent = true;
  template <class V>
  void visit(V& v) {
    s.visit(v);
    v("exact_tangent", exact_tangent,
      "project the direction's gradient onto the tangent of |v| (exact); false = the reference code's G g/|v|");
    visit_adam(v);
  }
};

const bool kRegistered = OptimizerRegistry::add<GradNormLoRPConfig>(
    "gradnormlorp", "GradNormLoRP: weight-normalised matrices with low-rank projected direction gradients",
    [](const GradNormLoRPConfig& o, const OptimizerContext& c) -> std::shared_ptr<torch::optim::Optimizer> {
      o.s.check("train.optimizer");
      LMF_REQUIRE(o.s.inner == "adam", ConfigError, "config key 'train.optimizer.inner': gradnormlorp supports \"adam\" only");
      const GaLoreSettings s = o.s;
      const bool exact = o.exact_tangent;
      return make_projected_optimizer(c, o.hyper(s.eight_bit(), "train.optimizer"), s.targets, "train.optimizer.targets",
                                      [s, exact](const at::Tensor& p) -> std::unique_ptr<ParamRule> {
                                        return std::make_unique<WeightNormLowRankRule>(p, s, exact);
                                      });
    });

}  // namespace
}  // namespace lmforge
