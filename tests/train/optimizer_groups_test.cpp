// Optimizer parameter groups: the default decay / no-decay split, and the groups a module asks for
// through nn/param_groups.h (Hyena's implicit filter: weight decay 0 and its own learning-rate
// multiplier, which set_learning_rate keeps as the schedule moves; the positional features fixed
// by default or in their own group).
#include <gtest/gtest.h>

#include <map>

#include <torch/optim/adamw.h>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"
#include "lmforge/nn/hyena.h"
#include "lmforge/train/optimizer.h"

using namespace lmforge;

namespace {

ModelConfig hyena_lm(const std::string& hyena_opts) {
  toml::table t = parse_toml_string(
      "vocab_size = 30\nd_model = 16\nn_layers = 2\nmax_seq_len = 32\nposition = \"none\"\n[block]\nmixer = \"hyena\"\n"
      "hyena = { " + hyena_opts + " }\n",
      "test");
  return parse_model_config(&t, "model");
}

NamedParams named_of(const torch::nn::Module& m) {
  NamedParams out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

// Index of the optimizer group holding `p`, or -1.
int group_of(torch::optim::Optimizer& opt, const at::Tensor& p) {
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (const auto& q : groups[g].params())
      if (q.unsafeGetTensorImpl() == p.unsafeGetTensorImpl()) return static_cast<int>(g);
  return -1;
}

const torch::optim::AdamWOptions& adamw(torch::optim::Optimizer& opt, int g) {
  return static_cast<const torch::optim::AdamWOptions&>(opt.param_groups()[g].options());
}

}  // namespace

TEST(OptimizerGroups, HyenaFilterGetsItsOwnLrAndNoWeightDecay) {
  at::manual_seed(0);
  LanguageModel m(hyena_lm("filter_lr_scale = 0.5, filter_weight_decay = 0.0"));
  auto hints = collect_param_group_hints(m);
  ASSERT_EQ(hints.size(), 2u);  // one filter group per layer; z is fixed by default
  EXPECT_EQ(hints[0].tag, "hyena.filter");
  BuiltOptimizer b = build_optimizer(Choice{"adamw", {}}, make_param_groups(named_of(m), hints, 0.1), 2e-3);
  auto& opt = b.optimizer;
  std::vector<double> scales = b.lr_scales;
  ASSERT_EQ(opt->param_groups().size(), 4u);
  EXPECT_EQ(scales, (std::vector<double>{1.0, 1.0, 0.5, 0.5}));

  auto params = m.named_parameters();
  int64_t seen = 0;
  for (const auto& p : params) {
    const std::string& n = p.key();
    const int g = group_of(*opt, p.value());
    if (n.find("filter_pos_z") != std::string::npos) {
      EXPECT_FALSE(p.value().requires_grad()) << n;
      EXPECT_EQ(g, -1) << n << " is fixed, so in no group";
      continue;
    }
    ASSERT_GE(g, 0) << n;
    ++seen;
    const bool filter = n.find("filter_mlp") != std::string::npos || n.find("filter_sine_freq") != std::string::npos;
    if (filter) {
      EXPECT_GE(g, 2) << n;
      EXPECT_DOUBLE_EQ(adamw(*opt, g).weight_decay(), 0.0) << n;
      EXPECT_DOUBLE_EQ(adamw(*opt, g).lr(), 1e-3) << n;
    } else if (n.find("in_proj.weight") != std::string::npos) {
      EXPECT_EQ(g, 0) << n;
      EXPECT_DOUBLE_EQ(adamw(*opt, g).weight_decay(), 0.1) << n;
      EXPECT_DOUBLE_EQ(adamw(*opt, g).lr(), 2e-3) << n;
    } else if (n.find("filter_bias") != std::string::npos) {
      EXPECT_EQ(g, 1) << n << ": the D-skip is a vector, no decay, the run's lr (as safari)";
    }
  }
  EXPECT_EQ(seen, m.parameters().size() - 2);  // every trainable parameter in exactly one group

  // the schedule moves all groups together, keeping the multipliers
  set_learning_rate(*opt, 4e-4, scales);
  EXPECT_DOUBLE_EQ(adamw(*opt, 0).lr(), 4e-4);
  EXPECT_DOUBLE_EQ(adamw(*opt, 1).lr(), 4e-4);
  EXPECT_DOUBLE_EQ(adamw(*opt, 2).lr(), 2e-4);
  EXPECT_DOUBLE_EQ(adamw(*opt, 3).lr(), 2e-4);
}

TEST(OptimizerGroups, TrainablePositionalFeaturesGetTheirOwnGroup) {
  LanguageModel m(hyena_lm("pos_emb_lr_scale = 0.25, filter_weight_decay = 0.01"));
  auto hints = collect_param_group_hints(m);
  ASSERT_EQ(hints.size(), 4u);
  BuiltOptimizer b = build_optimizer(Choice{"adamw", {}}, make_param_groups(named_of(m), hints, 0.1), 1e-3);
  auto& opt = b.optimizer;
  const std::vector<double>& scales = b.lr_scales;
  for (const auto& p : m.named_parameters()) {
    const int g = group_of(*opt, p.value());
    if (p.key().find("filter_pos_z") != std::string::npos) {
      ASSERT_GE(g, 2);
      EXPECT_DOUBLE_EQ(scales[g], 0.25);
      EXPECT_DOUBLE_EQ(adamw(*opt, g).lr(), 2.5e-4);
      EXPECT_DOUBLE_EQ(adamw(*opt, g).weight_decay(), 0.0);
    } else if (p.key().find("filter_mlp1.weight") != std::string::npos) {
      EXPECT_DOUBLE_EQ(adamw(*opt, g).weight_decay(), 0.01);
    }
  }
}

TEST(OptimizerGroups, FixedFilterParametersDoNotMoveAndFilterIsNotDecayed) {
  // One AdamW step with zero gradients: decayed matrices shrink, the filter MLP (wd 0) and the fixed
  // positional features do not move.
  LanguageModel m(hyena_lm(""));
  // build_optimizer on the module collects its hints itself.
  auto opt = build_optimizer(Choice{"adamw", {}}, m, 1e-2, 0.5).optimizer;
  std::map<std::string, at::Tensor> before;
  for (const auto& p : m.named_parameters()) {
    before[p.key()] = p.value().detach().clone();
    if (p.value().requires_grad()) p.value().mutable_grad() = at::zeros_like(p.value());
  }
  opt->step();
  for (const auto& p : m.named_parameters()) {
    const bool same = at::equal(p.value().detach(), before[p.key()]);
    if (p.key().find("filter_mlp") != std::string::npos || p.key().find("filter_pos_z") != std::string::npos) {
      EXPECT_TRUE(same) << p.key();
    }
    if (p.key().find("in_proj.weight") != std::string::npos) {
      EXPECT_FALSE(same) << p.key();
    }
  }
}

TEST(OptimizerGroups, WithoutHintsTheDefaultTwoGroups) {
  at::Tensor w = at::randn({4, 4}).requires_grad_(), b = at::zeros({4}).requires_grad_();
  BuiltOptimizer built = build_optimizer(Choice{"adamw", {}}, make_param_groups({{"w", w}, {"b", b}}, {}, 0.1), 3e-3);
  auto& opt = built.optimizer;
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_EQ(group_of(*opt, w), 0);
  EXPECT_EQ(group_of(*opt, b), 1);
  EXPECT_DOUBLE_EQ(adamw(*opt, 0).weight_decay(), 0.1);
  EXPECT_DOUBLE_EQ(adamw(*opt, 1).weight_decay(), 0.0);
  set_learning_rate(*opt, 1e-4);  // no multipliers: every group gets the lr
  EXPECT_DOUBLE_EQ(adamw(*opt, 1).lr(), 1e-4);
}

TEST(OptimizerGroups, HyenaFilterInitFollowsTheReference) {
  at::manual_seed(4);
  LayerContext c;
  c.d_model = 32, c.max_seq_len = 64, c.n_layers = 2;
  HyenaOptions o;  // default: N(0, 0.02^2), zero biases (safari's _init_weights)
  Hyena h(o, c);
  auto p = h.named_parameters();
  EXPECT_NEAR(p["filter_mlp1.weight"].std().item<double>(), 0.02, 0.002);
  EXPECT_EQ(p["filter_mlp1.bias"].abs().max().item<double>(), 0.0);
  o.filter_init_std = 0;  // PyTorch's default uniform(+-1/sqrt(fan_in))
  Hyena u(o, c);
  auto q = u.named_parameters();
  EXPECT_LE(q["filter_mlp1.weight"].abs().max().item<double>(), 1.0 / 8.0);
  EXPECT_GT(q["filter_mlp1.weight"].abs().max().item<double>(), 0.1);
  EXPECT_GT(q["filter_mlp0.bias"].abs().max().item<double>(), 0.0);
}

TEST(OptimizerGroups, HyenaRejectsNegativeGroupSettings) {
  EXPECT_THROW(LanguageModel(hyena_lm("filter_lr_scale = -1.0")), ConfigError);
  EXPECT_THROW(LanguageModel(hyena_lm("pos_emb_lr_scale = -0.5")), ConfigError);
}
