#include "lmforge/nn/param_groups.h"

namespace lmforge {

std::vector<ParamGroupHint> collect_param_group_hints(const torch::nn::Module& model) {
  std::vector<ParamGroupHint> out;
  auto add = [&](const torch::nn::Module* m) {
    if (auto* p = dynamic_cast<const ParamGroupProvider*>(m))
      for (auto& h : p->param_group_hints()) out.push_back(std::move(h));
  };
  add(&model);
  for (const auto& m : model.modules(/*include_self=*/false)) add(m.get());
  return out;
}

}  // namespace lmforge
