// Optimisers, registered by name and chosen in [train.optimizer]:
//   [train.optimizer]
//   name = "adamw"      # the registered optimiser (train/optimizers/*.cpp, one file each)
//   beta2 = 0.98        # its own options, checked against its Options struct
// Every optimiser gets the same parameter groups (make_param_groups): decoupled weight decay on
// matrices only -- norms, biases and other 1-D parameters set scales and offsets, and shrinking
// them toward zero only hurts -- plus one group per hint a module asks for (nn/param_groups.h:
// Hyena's implicit filter, as the reference code does), with its own weight decay and a learning
// rate that is a fixed multiple of the scheduled one.
//
// Adding an optimiser: one file under train/optimizers/ with an Options struct (visit()) and
//   static const bool kRegistered = OptimizerRegistry::add<MyOptions>("name", "doc",
//       [](const MyOptions& o, const OptimizerContext& c) { ... return shared_ptr<Optimizer>; });
// where the factory turns c.groups into the optimiser's own param groups (lr = c.lr x lr_scale).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include "lmforge/core/config.h"
#include "lmforge/core/registry.h"
#include "lmforge/nn/param_groups.h"

namespace lmforge {

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

struct ParamGroup {
  std::string tag;  // "decay", "no_decay", or the hint's tag
  std::vector<at::Tensor> params;
  std::vector<std::string> names;  // parallel to params: names in the model (rules chosen by name)
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

struct OptimizerContext {
  std::vector<ParamGroup> groups;
  double lr = 1e-3;  // the schedule's peak; group g starts at lr x groups[g].lr_scale
};

struct OptimizerKind {
  static constexpr const char* kKind = "optimizer";
};
using OptimizerRegistry = Registry<torch::optim::Optimizer, OptimizerContext, OptimizerKind>;

// Groups: [decay, no-decay, one per hint (in hint order)]. Frozen parameters (requires_grad
// false) are in no group. A parameter named by a hint goes to the hint's group only. A hint whose
// parameters are all frozen or absent still gets its (empty) group, so the group layout -- and a
// saved optimizer state -- depends on the model only.
std::vector<ParamGroup> make_param_groups(const NamedParams& params, const std::vector<ParamGroupHint>& hints,
                                          double weight_decay);
NamedParams named_parameters_of(const torch::nn::Module& model);

struct BuiltOptimizer {
  std::shared_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> lr_scales;  // per group, for set_learning_rate
};

// The optimiser `choice` names, over the model's parameter groups (its modules' hints included).
// `where` is the config key that chose it (for messages).
BuiltOptimizer build_optimizer(const Choice& choice, const torch::nn::Module& model, double lr, double weight_decay,
                               const std::string& where = "train.optimizer");
BuiltOptimizer build_optimizer(const Choice& choice, std::vector<ParamGroup> groups, double lr,
                               const std::string& where = "train.optimizer");

// Sets every group's lr to lr x lr_scales[group] (1 for groups past the end of lr_scales).
void set_learning_rate(torch::optim::Optimizer& opt, double lr, const std::vector<double>& lr_scales = {});
// True for parameters that get weight decay.
bool decays(const std::string& name, const at::Tensor& p);

// Reads `key` from an optimizer archive into `into`; InputError naming the key when it is missing
// or, when `into` is already defined, when its shape differs (a checkpoint of another optimizer,
// other options, or another model).
void read_optimizer_state(torch::serialize::InputArchive& a, const std::string& key, at::Tensor& into);

}  // namespace lmforge
