// SGD with momentum (Polyak heavy ball; Nesterov's variant optional), LibTorch's implementation:
//   b = mu b + (1 - dampening) (g + wd w);  w = w - lr b   (nesterov: w = w - lr (g + mu b))
// Its weight decay is L2 (added to the gradient), the classic SGD recipe.
#include <torch/optim/sgd.h>

#include "lmforge/train/optimizer.h"

namespace lmforge {
namespace {

struct SgdConfig {
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;
  template <class V>
  void visit(V& v) {
    v("momentum", momentum, "momentum coefficient mu; 0 = plain SGD");
    v("dampening", dampening, "scales the new gradient by (1 - dampening)");
    v("nesterov", nesterov, "Nesterov momentum (needs momentum > 0, dampening 0)");
  }
};

const bool kRegistered = OptimizerRegistry::add<SgdConfig>(
    "sgd", "stochastic gradient descent with momentum", [](const SgdConfig& o, const OptimizerContext& c) {
      LMF_REQUIRE(o.momentum >= 0, ConfigError, "config key 'train.optimizer.momentum': must be >= 0, got ", o.momentum);
      LMF_REQUIRE(!o.nesterov || (o.momentum > 0 && o.dampening == 0), ConfigError,
                  "config key 'train.optimizer.nesterov': needs momentum > 0 and dampening = 0");
      auto base = torch::optim::SGDOptions(c.lr).momentum(o.momentum).dampening(o.dampening).nesterov(o.nesterov);
      std::vector<torch::optim::OptimizerParamGroup> groups;
      for (const auto& g : c.groups)
        groups.emplace_back(g.params, std::make_unique<torch::optim::SGDOptions>(
                                          torch::optim::SGDOptions(base).lr(c.lr * g.lr_scale).weight_decay(g.weight_decay)));
      return std::make_shared<torch::optim::SGD>(groups, base);
    });

}  // namespace
}  // namespace lmforge
