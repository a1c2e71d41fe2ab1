// Parameter groups and the optimiser registry's entry point; see optimizer.h.
#include "lmforge/train/optimizer.h"

#include <unordered_map>

#include "lmforge/core/error.h"

namespace lmforge {

bool decays(const std::string& name, const at::Tensor& p) { return p.dim() >= 2; }

NamedParams named_parameters_of(const torch::nn::Module& model) {
  NamedParams named;
  for (const auto& p : model.named_parameters()) named.emplace_back(p.key(), p.value());
  return named;
}

std::vector<ParamGroup> make_param_groups(const NamedParams& params, const std::vector<ParamGroupHint>& hints,
                                          double weight_decay) {
  // which hint (if any) claims each parameter tensor
  std::unordered_map<const void*, size_t> claimed;
  for (size_t h = 0; h < hints.size(); ++h) {
    LMF_REQUIRE(hints[h].lr_scale >= 0 && hints[h].weight_decay >= 0, ConfigError, "optimizer group '", hints[h].tag,
                "': lr scale and weight decay must be >= 0");
    for (const auto& p : hints[h].params) claimed.emplace(p.unsafeGetTensorImpl(), h);
  }
  std::vector<ParamGroup> groups(2 + hints.size());
  groups[0].tag = "decay", groups[0].weight_decay = weight_decay;
  groups[1].tag = "no_decay";
  for (size_t h = 0; h < hints.size(); ++h) {
    groups[2 + h].tag = hints[h].tag;
    groups[2 + h].lr_scale = hints[h].lr_scale;
    groups[2 + h].weight_decay = hints[h].weight_decay;
  }
  for (const auto& [n, p] : params) {
    if (!p.requires_grad()) continue;
    auto it = claimed.find(p.unsafeGetTensorImpl());
    auto& g = groups[it != claimed.end() ? 2 + it->second : (decays(n, p) ? 0 : 1)];
    g.params.push_back(p);
    g.names.push_back(n);
  }
  return groups;
}

BuiltOptimizer build_optimizer(const Choice& choice, std::vector<ParamGroup> groups, double lr,
                               const std::string& where) {
  LMF_REQUIRE(lr >= 0, ConfigError, "config key '", where, "': learning rate must be >= 0, got ", lr);
  const auto& entry = OptimizerRegistry::at(choice.name, where + ".name");
  BuiltOptimizer b;
  for (const auto& g : groups) b.lr_scales.push_back(g.lr_scale);
  OptimizerContext ctx;
  ctx.groups = std::move(groups);
  ctx.lr = lr;
  b.optimizer = entry.build(choice.options, where, ctx);
  return b;
}

BuiltOptimizer build_optimizer(const Choice& choice, const torch::nn::Module& model, double lr, double weight_decay,
                               const std::string& where) {
  return build_optimizer(choice, make_param_groups(named_parameters_of(model), collect_param_group_hints(model), weight_decay),
                         lr, where);
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr, const std::vector<double>& lr_scales) {
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(g < lr_scales.size() ? lr * lr_scales[g] : lr);
}

void read_optimizer_state(torch::serialize::InputArchive& a, const std::string& key, at::Tensor& into) {
  at::Tensor t;
  LMF_REQUIRE(a.try_read(key, t, true), InputError, "optimizer state has no '", key,
              "' (saved by another optimizer, other options, or another model?)");
  LMF_REQUIRE(!into.defined() || t.sizes() == into.sizes(), InputError, "optimizer state '", key, "' has shape ",
              t.sizes(), ", this run expects ", into.sizes());
  into = t;
}

}  // namespace lmforge
