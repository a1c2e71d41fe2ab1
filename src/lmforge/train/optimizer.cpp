#include "lmforge/train/optimizer.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <unordered_map>

#include "lmforge/core/error.h"

namespace lmforge {

bool decays(const std::string& name, const at::Tensor& p) { return p.dim() >= 2; }

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c, const NamedParams& params,
                                                        const std::vector<ParamGroupHint>& hints,
                                                        std::vector<double>* lr_scales) {
  // which hint (if any) claims each parameter tensor
  std::unordered_map<const void*, size_t> claimed;
  for (size_t h = 0; h < hints.size(); ++h) {
    LMF_REQUIRE(hints[h].lr_scale >= 0 && hints[h].weight_decay >= 0, ConfigError, "optimizer group '", hints[h].tag,
                "': lr scale and weight decay must be >= 0");
    for (const auto& p : hints[h].params) claimed.emplace(p.unsafeGetTensorImpl(), h);
  }
  std::vector<at::Tensor> decay, no_decay;
  std::vector<std::vector<at::Tensor>> hinted(hints.size());
  for (const auto& [n, p] : params) {
    if (!p.requires_grad()) continue;
    auto it = claimed.find(p.unsafeGetTensorImpl());
    if (it != claimed.end())
      hinted[it->second].push_back(p);
    else
      (decays(n, p) ? decay : no_decay).push_back(p);
  }
  std::vector<double> scales = {1.0, 1.0};
  std::vector<double> wds = {c.weight_decay, 0.0};
  std::vector<std::vector<at::Tensor>> members = {decay, no_decay};
  for (size_t h = 0; h < hints.size(); ++h) {
    scales.push_back(hints[h].lr_scale);
    wds.push_back(hints[h].weight_decay);
    members.push_back(hinted[h]);
  }
  if (lr_scales) *lr_scales = scales;
  if (c.name == "adamw") {
    auto base = torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (size_t g = 0; g < members.size(); ++g)
      groups.emplace_back(members[g], std::make_unique<torch::optim::AdamWOptions>(
                                          torch::optim::AdamWOptions(base).lr(c.lr * scales[g]).weight_decay(wds[g])));
    return std::make_unique<torch::optim::AdamW>(groups, base);
  }
  if (c.name == "sgd") {
    auto base = torch::optim::SGDOptions(c.lr).momentum(c.momentum);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (size_t g = 0; g < members.size(); ++g)
      groups.emplace_back(members[g], std::make_unique<torch::optim::SGDOptions>(
                                          torch::optim::SGDOptions(base).lr(c.lr * scales[g]).weight_decay(wds[g])));
    return std::make_unique<torch::optim::SGD>(groups, base);
  }
  throw ConfigError(str("config key 'train.optimizer': unknown optimizer '", c.name, "' (adamw, sgd)"));
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr, const std::vector<double>& lr_scales) {
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(g < lr_scales.size() ? lr * lr_scales[g] : lr);
}

}  // namespace lmforge
