// Optimisers, chosen by name in [train]. AdamW (Loshchilov & Hutter 2019) with decoupled weight
// decay applied to matrices only: norms, biases and other 1-D parameters get no decay (they set
// scales and offsets; shrinking them toward zero only hurts).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/optimizer.h>

namespace lmforge {

struct OptimConfig {
  std::string name = "adamw";  // adamw | sgd
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;
  double momentum = 0.9;  // sgd
};

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c, const NamedParams& params);
void set_learning_rate(torch::optim::Optimizer& opt, double lr);
// True for parameters that get weight decay.
bool decays(const std::string& name, const at::Tensor& p);

}  // namespace lmforge
