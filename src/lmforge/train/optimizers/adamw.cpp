// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  m^ = m / (1 - b1^t);  v^ = v / (1 - b2^t)
//   w = w - lr (m^ / (sqrt(v^) + eps) + wd w)        (the decay is not scaled by the Adam step)
// LibTorch's implementation; with weight decay 0 it is Adam.
#include <torch/optim/adamw.h>

#include "lmforge/train/optimizer.h"

namespace lmforge {
namespace {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  bool amsgrad = false;
  template <class V>
  void visit(V& v) {
    v("beta1", beta1, "first-moment decay");
    v("beta2", beta2, "second-moment decay");
    v("eps", eps, "added to sqrt(v^) in the denominator");
    v("amsgrad", amsgrad, "use the running maximum of v (Reddi et al. 2018)");
  }
};

const bool kRegistered = OptimizerRegistry::add<AdamWConfig>(
    "adamw", "Adam with decoupled weight decay", [](const AdamWConfig& o, const OptimizerContext& c) {
      LMF_REQUIRE(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, ConfigError,
                  "config key 'train.optimizer': adamw betas must be in [0, 1), got (", o.beta1, ", ", o.beta2, ")");
      LMF_REQUIRE(o.eps > 0, ConfigError, "config key 'train.optimizer.eps': must be positive, got ", o.eps);
      auto base = torch::optim::AdamWOptions(c.lr).betas({o.beta1, o.beta2}).eps(o.eps).amsgrad(o.amsgrad);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      for (const auto& g : c.groups)
        groups.emplace_back(g.params, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(base)
                                                                                       .lr(c.lr * g.lr_scale)
                                                                                       .weight_decay(g.weight_decay)));
      return std::make_shared<torch::optim::AdamW>(groups, base);
    });

}  // namespace
}  // namespace lmforge
