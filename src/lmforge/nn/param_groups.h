// Per-parameter optimizer settings that a module asks for: the C++ counterpart of the `_optim`
// attribute that HazyResearch/safari (src/utils/train.py OptimModule, models/sequence/hyena.py) puts
// on a parameter, from which its optimizer builds one group per distinct setting. Hyena uses it
// to train its implicit filter (MLP and sine frequencies) without weight decay and with its own
// learning rate, and its positional features with another.
// make_optimizer (train/optimizer.h) puts each hinted parameter in its hint's group; every other
// parameter follows the default rule (decay for matrices, none for vectors).
#pragma once
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace lmforge {

struct ParamGroupHint {
  std::string tag;                 // for logs and tests, e.g. "hyena.filter"
  std::vector<at::Tensor> params;  // the module's own parameter tensors (matched by identity)
  double lr_scale = 1.0;           // learning rate = this x the run's scheduled lr
  double weight_decay = 0.0;       // decoupled weight decay of the group
};

class ParamGroupProvider {
 public:
  virtual ~ParamGroupProvider() = default;
  virtual std::vector<ParamGroupHint> param_group_hints() const = 0;
};

// The hints of every submodule of `model` (and of `model` itself) that implements
// ParamGroupProvider, in module order.
std::vector<ParamGroupHint> collect_param_group_hints(const torch::nn::Module& model);

}  // namespace lmforge
