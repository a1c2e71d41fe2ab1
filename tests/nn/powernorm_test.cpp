// PowerNorm: exact mode = true gradient (float64 finite differences and the closed form), eval uses
// the running statistic, the running statistic tracks E[x^2], padding never enters the statistics;
// BatchNorm: padding excluded, eval uses running statistics.
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "lmforge/nn/powernorm.h"

using namespace lmforge;

namespace {
LayerContext ctx_d(int64_t d) {
  LayerContext c;
  c.d_model = d;
  return c;
}
}  // namespace

class PowerNormExact : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(PowerNormExact, GradientMatchesFiniteDifferences) {
  at::manual_seed(0);
  const auto [grouped, padded] = GetParam();
  PowerNormOptions o;
  o.exact = true, o.group_scaling = grouped, o.groups = 2;
  PowerNorm n(o, ctx_d(6));
  n.to(at::kDouble);
  {
    torch::NoGradGuard ng;
    n.weight.uniform_(0.5, 1.5);
  }
  n.train();
  ForwardContext c;
  if (padded) c.key_padding = at::rand({3, 5}) > 0.3;
  at::Tensor x = at::randn({3, 5, 6}, at::kDouble).requires_grad_(true), g = at::randn({3, 5, 6}, at::kDouble);
  at::Tensor gx = torch::autograd::grad({(n.forward(x, c) * g).sum()}, {x})[0];
  at::Tensor xd = x.detach();
  for (int64_t i = 0; i < xd.numel(); i += 3) {
    const double eps = 1e-6;
    at::Tensor xp = xd.clone(), xm = xd.clone();
    xp.view(-1)[i] += eps, xm.view(-1)[i] -= eps;
    const double fd = ((n.forward(xp, c) - n.forward(xm, c)) * g).sum().item<double>() / (2 * eps);
    EXPECT_NEAR(gx.view(-1)[i].item<double>(), fd, 1e-7 + 1e-6 * std::abs(fd)) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(PowerNorm, PowerNormExact, ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(PowerNorm, ExactModeEqualsAutogradOfTheFormula) {
  at::manual_seed(1);
  PowerNormOptions o;
  o.exact = true, o.group_scaling = false, o.bias = false;
  PowerNorm n(o, ctx_d(4));
  n.to(at::kDouble);
  n.train();
  ForwardContext c;
  at::Tensor x = at::randn({2, 7, 4}, at::kDouble).requires_grad_(true), g = at::randn({2, 7, 4}, at::kDouble);
  at::Tensor gx = torch::autograd::grad({(n.forward(x, c) * g).sum()}, {x})[0];
  at::Tensor x2 = x.detach().clone().requires_grad_(true);
  at::Tensor ref = x2 / at::sqrt(x2.pow(2).mean(at::IntArrayRef{0, 1}) + 1e-5);
  at::Tensor gr = torch::autograd::grad({(ref * g).sum()}, {x2})[0];
  EXPECT_TRUE(at::allclose(gx, gr, 1e-12, 1e-12));
}

TEST(PowerNorm, EvalUsesRunningStatisticAndItTracksTheQuadraticMean) {
  at::manual_seed(2);
  PowerNormOptions o;
  o.group_scaling = false, o.warmup = 10;
  PowerNorm n(o, ctx_d(3));
  n.train();
  at::Tensor scale = at::tensor({0.5, 1.0, 3.0}).to(at::kFloat), shift = at::tensor({1.0, 0.0, -2.0}).to(at::kFloat);
  for (int i = 0; i < 60; ++i) {
    ForwardContext c;
    at::Tensor x = (at::randn({8, 256, 3}) * scale + shift).requires_grad_(true);
    n.forward(x, c).sum().backward();  // approximate backward runs and updates Gamma
  }
  at::Tensor expect = scale.pow(2) + shift.pow(2);  // E[x^2]
  EXPECT_TRUE(at::allclose(n.running_phi, expect, 5e-2, 0.0)) << n.running_phi << expect;
  EXPECT_TRUE(n.ema_gz.isfinite().all().item<bool>());
  n.eval();
  ForwardContext c;
  at::Tensor x = at::randn({2, 4, 3});
  EXPECT_TRUE(at::allclose(n.forward(x, c), x / at::sqrt(n.running_phi + 1e-5) * n.weight + n.bias, 1e-6, 1e-6));
}

TEST(PowerNorm, PaddingNeverEntersTheStatistics) {
  at::manual_seed(3);
  PowerNormOptions o;
  o.warmup = 0;  // after warm-up: forward with the running statistic
  PowerNorm a(o, ctx_d(4)), b(o, ctx_d(4));
  a.train(), b.train();
  at::Tensor valid = at::rand({2, 9}) > 0.3;
  at::Tensor x = at::randn({2, 9, 4}), y = x.clone();
  y.index_put_({valid.logical_not()}, 100 * at::randn({valid.logical_not().sum().item<int64_t>(), 4}));
  for (int i = 0; i < 3; ++i) {
    ForwardContext c1, c2;
    c1.key_padding = valid, c2.key_padding = valid;
    at::Tensor oa = a.forward(x, c1), ob = b.forward(y, c2);
    EXPECT_TRUE(at::allclose(oa.index({valid}), ob.index({valid}), 1e-6, 1e-6));
  }
  EXPECT_TRUE(at::allclose(a.running_phi, b.running_phi, 1e-6, 1e-6));
}

TEST(BatchNorm, PaddingExcludedAndEvalUsesRunningStatistics) {
  at::manual_seed(4);
  BatchNormOptions o;
  o.momentum = 1.0;  // running = last batch
  MaskedBatchNorm n(o, ctx_d(3));
  n.train();
  at::Tensor valid = at::rand({4, 6}) > 0.3;
  at::Tensor x = at::randn({4, 6, 3}) * 2 + 1;
  ForwardContext c;
  c.key_padding = valid;
  at::Tensor y = n.forward(x, c);
  at::Tensor real = y.index({valid});
  EXPECT_TRUE(at::allclose(real.mean(0), at::zeros({3}), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(real.var(0, false), at::ones({3}), 1e-3, 1e-3));
  n.eval();
  ForwardContext e;
  EXPECT_TRUE(at::allclose(n.forward(x, e).index({valid}), real, 1e-4, 1e-4));
}
