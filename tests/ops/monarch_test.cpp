// Monarch oracles (specs/architectures.md section 4): the product equals its materialised dense
// matrix; projection of a Monarch matrix recovers it exactly; projection of a random dense matrix is
// far from exact (~0.74 relative error at n = 36) and never worse than any Monarch matrix; the layer
// with padding equals its dense weight; monarch_mlp is registered and cheaper than mlp.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include "lmforge/core/precision.h"
#include "lmforge/nn/components.h"
#include "lmforge/nn/monarch_linear.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/monarch/op.h"

using namespace lmforge;

namespace {

struct Shapes {
  std::vector<int64_t> w1, w2;
};
const std::vector<Shapes> kShapes = {
    {{6, 6, 6}, {6, 6, 6}},    // square sqrt(n) Monarch, rank-1 blocks
    {{4, 8, 8}, {4, 16, 8}},   // nblocks 4, n 32 -> m 64 (rank-2 blocks)
    {{4, 4, 8}, {4, 4, 4}},    // n 32 -> m 16
    {{2, 3, 4}, {3, 5, 2}},    // l does not divide q
};

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

}  // namespace

TEST(Monarch, ProductEqualsMaterialisedDense) {
  at::manual_seed(0);
  for (const auto& s : kShapes) {
    at::Tensor w1 = at::randn(s.w1, at::kDouble), w2 = at::randn(s.w2, at::kDouble);
    at::Tensor x = at::randn({3, 5, s.w1[0] * s.w1[2]}, at::kDouble);
    at::Tensor bias = at::randn({s.w2[0] * s.w2[1]}, at::kDouble);
    at::Tensor m = monarch_to_dense(w1, w2);
    at::Tensor want = at::matmul(x, m.t()) + bias;
    EXPECT_LT(max_rel(monarch_linear(x, w1, w2, bias), want), 1e-12) << s.w1 << s.w2;
    EXPECT_LT(max_rel(monarch_linear_ref(x, w1, w2, bias), want), 1e-12) << s.w1 << s.w2;
    // The materialised matrix has the Monarch sparsity: n*q + m*r parameters in the factors.
    EXPECT_EQ(m.size(0), s.w2[0] * s.w2[1]);
  }
}

TEST(Monarch, FastBackwardMatchesReferenceAutograd) {
  at::manual_seed(1);
  for (const auto& s : kShapes) {
    at::Tensor w1 = at::randn(s.w1, at::kDouble).requires_grad_(), w2 = at::randn(s.w2, at::kDouble).requires_grad_();
    at::Tensor x = at::randn({7, s.w1[0] * s.w1[2]}, at::kDouble).requires_grad_();
    at::Tensor g = at::randn({7, s.w2[0] * s.w2[1]}, at::kDouble);
    auto fast = torch::autograd::grad({monarch_linear(x, w1, w2)}, {x, w1, w2}, {g});
    auto ref = torch::autograd::grad({monarch_linear_ref(x, w1, w2)}, {x, w1, w2}, {g});
    for (int i = 0; i < 3; ++i) EXPECT_LT(max_rel(fast[i], ref[i]), 1e-12) << "input " << i << " " << s.w1 << s.w2;
  }
}

TEST(Monarch, ProjectionRecoversMonarchExactly) {
  at::manual_seed(2);
  for (const auto& s : kShapes) {
    at::Tensor w1 = at::randn(s.w1, at::kDouble), w2 = at::randn(s.w2, at::kDouble);
    at::Tensor m = monarch_to_dense(w1, w2);
    auto [p1, p2] = monarch_project(m, w1.sizes(), w2.sizes());
    EXPECT_LT(max_rel(monarch_to_dense(p1, p2), m), 1e-10) << s.w1 << s.w2;
    // fp32 too (spec: <= 1e-4).
    auto [f1, f2] = monarch_project(m.to(at::kFloat), w1.sizes(), w2.sizes());
    EXPECT_LT(max_rel(monarch_to_dense(f1, f2).to(at::kDouble), m), 1e-4);
  }
}

TEST(Monarch, ProjectionOfRandomDenseIsBestNotExact) {
  at::manual_seed(3);
  at::Tensor d = at::randn({36, 36}, at::kDouble);
  auto [p1, p2] = monarch_project(d, {6, 6, 6}, {6, 6, 6});
  const double err = ((monarch_to_dense(p1, p2) - d).norm() / d.norm()).item<double>();
  EXPECT_GT(err, 0.6);  // spec: about 0.74 at n = 36
  EXPECT_LT(err, 0.85);
  // Optimality: closer than the Monarch matrix that generated a noisy target.
  for (const auto& s : kShapes) {
    at::Tensor w1 = at::randn(s.w1, at::kDouble), w2 = at::randn(s.w2, at::kDouble);
    at::Tensor m = monarch_to_dense(w1, w2);
    at::Tensor target = m + 0.3 * at::randn_like(m);
    auto [q1, q2] = monarch_project(target, s.w1, s.w2);
    EXPECT_LE((monarch_to_dense(q1, q2) - target).norm().item<double>(), (m - target).norm().item<double>() + 1e-9);
  }
}

TEST(Monarch, LayerWithPaddingEqualsItsDenseWeight) {
  at::manual_seed(4);
  for (auto [in, out] : std::vector<std::pair<int64_t, int64_t>>{{10, 7}, {7, 10}, {16, 64}, {64, 16}}) {
    MonarchLinear layer(in, out, 4, true, 0.02);
    {
      torch::NoGradGuard g;
      layer.bias.normal_();
    }
    at::Tensor x = at::randn({5, in});
    at::Tensor want = at::linear(x, layer.to_dense(), layer.bias);
    EXPECT_LT(max_rel(layer.forward(x), want), 1e-5) << in << " -> " << out;
    // Its own dense weight projects back onto it.
    at::Tensor w = layer.to_dense();
    EXPECT_LT(layer.set_from_dense(w), 1e-5);
    EXPECT_LT(max_rel(layer.to_dense(), w), 1e-5);
  }
}

TEST(Monarch, InitMatchesDenseScale) {
  at::manual_seed(5);
  MonarchLinear layer(256, 1024, 4, false, 0.02);
  const double std = layer.to_dense().std().item<double>();
  EXPECT_NEAR(std, 0.02, 0.004);
}

TEST(Monarch, RunsUnderBf16Autocast) {
  at::manual_seed(6);
  MonarchLinear layer(64, 256, 4, true, 0.02);
  at::Tensor x = at::randn({4, 64});
  at::Tensor want = layer.forward(x);
  at::Tensor y;
  {
    AutocastGuard ac(at::kBFloat16, at::Device(at::kCPU));
    y = layer.forward(x);
  }
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  EXPECT_LT(max_rel(y.to(at::kFloat), want), 3e-2);
  y.to(at::kFloat).sum().backward();
  EXPECT_TRUE(layer.blkdiag1.grad().defined());
  EXPECT_EQ(layer.blkdiag1.grad().scalar_type(), at::kFloat);
}

TEST(Monarch, MlpIsRegisteredAndCheaper) {
  LayerContext c;
  c.d_model = 64;
  toml::table none;
  auto dense = FfnRegistry::at("mlp", "t").build(none, "t", c);
  auto mon = FfnRegistry::at("monarch_mlp", "t").build(none, "t", c);
  // d -> 4d with 4 blocks: (d*d/4 + 4d*d/4) * 2 projections vs 8 d^2 -> 3.2x fewer FLOPs.
  EXPECT_NEAR(dense->flops_per_token() / mon->flops_per_token(), 3.2, 1e-9);
  ForwardContext ctx;
  at::Tensor y = mon->forward(at::randn({2, 3, 64}), ctx);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 64}));
  toml::table bad;
  bad.insert_or_assign("nblocks", 1000);
  EXPECT_THROW(FfnRegistry::at("monarch_mlp", "t").build(bad, "t", c), ConfigError);
}
