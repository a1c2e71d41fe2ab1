// Optimisers, chosen by name in [train]. AdamW (Loshchilov & Hutter 2019) with decoupled weight
// decay applied to matrices only: norms, biases and other 1-D parameters get no decay (they set
// scales and offsets; shrinking them toward zero only hurts). A module can ask for its own groups
// (nn/param_groups.h: Hyena's implicit filter, as the reference code does): each hint becomes one
// group with its weight decay and a learning rate that is a fixed multiple of the scheduled one.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/optimizer.h>

#include "lmforge/nn/param_groups.h"

namespace lmforge {

struct OptimConfig {
  std::string name = "adamw";  // adamw | sgd
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;
  double momentum = 0.9;  // sgd
};

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

// Groups: [decay, no-decay, one per hint (in hint order)]. A parameter named by a hint goes to the
// hint's group only. *lr_scales (when given) receives each group's multiplier of the run's lr, for
// set_learning_rate. A hint whose parameters are all frozen or absent still gets its (empty) group,
// so the group layout -- and a saved optimizer state -- depends on the model only.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& c, const NamedParams& params,
                                                        const std::vector<ParamGroupHint>& hints = {},
                                                        std::vector<double>* lr_scales = nullptr);
// Sets every group's lr to lr x lr_scales[group] (1 for groups past the end of lr_scales).
void set_learning_rate(torch::optim::Optimizer& opt, double lr, const std::vector<double>& lr_scales = {});
// True for parameters that get weight decay.
bool decays(const std::string& name, const at::Tensor& p);

}  // namespace lmforge
