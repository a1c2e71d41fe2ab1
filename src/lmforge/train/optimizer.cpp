#include "lmforge/train/optimizer.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "lmforge/core/error.h"

namespace lmforge {

bool decays(const std::string& name, const at::Tensor& p) { return p.dim() >= 2; }

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c, const NamedParams& params) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [n, p] : params) {
    if (!p.requires_grad()) continue;
    (decays(n, p) ? decay : no_decay).push_back(p);
  }
  if (c.name == "adamw") {
    auto base = torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(base).weight_decay(c.weight_decay)));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(base).weight_decay(0.0)));
    return std::make_unique<torch::optim::AdamW>(groups, base);
  }
  if (c.name == "sgd") {
    auto base = torch::optim::SGDOptions(c.lr).momentum(c.momentum);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(
                                   torch::optim::SGDOptions(base).weight_decay(c.weight_decay)));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(
                                      torch::optim::SGDOptions(base).weight_decay(0.0)));
    return std::make_unique<torch::optim::SGD>(groups, base);
  }
  throw ConfigError(str("config key 'train.optimizer': unknown optimizer '", c.name, "' (adamw, sgd)"));
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

}  // namespace lmforge
