// AdamSMoE and Robust MomentumSMoE (Teo & Nguyen, NeurIPS 2024) against their update equations on
// inputs small enough to compute by hand. The expert is fixed to a known function,
//   f(x) = W2 relu(W1 x),  W1 = I,  W2 = diag(1, -1)   ->   f([a, b]) = [relu(a), -relu(b)],
// with one expert and top-1 routing (the routing weight is softmax of one logit = 1), so every
// expected number below follows from the paper's formulas with pencil and paper:
//   AdamSMoE, first momentum layer:  m = (1 - b1) f,  v = (1 - b2) f^2,  out = gamma1 m / sqrt(v + eps),
//                                    and the heavy-ball state starts at p = gamma f;
//   later layers (heavy ball):       p_l = mu p_{l-1} + gamma f_l,  out = p_l;
//   Robust (Cyrus et al. 2018, L = 1):  alpha = kappa (1-rho)^2 (1+rho),  beta = kappa rho^3 / (kappa-1),
//                                    lookahead = rho^3 / ((kappa-1) (1-rho)^2 (1+rho)),
//                                    p_l = beta p_{l-1} + alpha f(x_l + lookahead p_{l-1}),  out = p_l.
// The state crosses layers through ForwardContext::carry, as in a model's forward.
#include <cmath>

#include <gtest/gtest.h>

#include "lmforge/nn/moe.h"

using namespace lmforge;

namespace {

std::shared_ptr<MoeFfn> known_expert_layer(MoeOptions o, int64_t layer) {
  o.n_experts = 1, o.top_k = 1, o.hidden = 2, o.activation = "relu", o.bias = false;
  o.capacity_factor = 0, o.balance_weight = 0;
  LayerContext c;
  c.d_model = 2, c.layer_index = layer, c.n_layers = 2;
  auto m = std::make_shared<MoeFfn>(o, c);
  torch::NoGradGuard ng;
  m->gate->weight.zero_();
  m->gate->bias.zero_();
  m->w1[0].copy_(at::eye(2));
  m->w2[0].copy_(at::tensor({1.0f, 0.0f, 0.0f, -1.0f}).view({2, 2}));
  return m;
}

at::Tensor t2(std::vector<float> v) { return at::tensor(v).view({1, 2, 2}); }  // (B 1, L 2, D 2)

void expect_values(const at::Tensor& got, const at::Tensor& want, double tol, const char* what) {
  EXPECT_LT((got - want).abs().max().item<double>(), tol) << what << "\n got " << got << "\n want " << want;
}

}  // namespace

TEST(MomentumSmoe, KnownExpertIsTheFunctionTheHandValuesAssume) {
  auto m = known_expert_layer(MoeOptions{}, 0);
  ForwardContext c;
  expect_values(m->forward(t2({2, 4, -6, 1}), c), t2({2, -4, 0, -1}), 1e-7, "f");
}

TEST(MomentumSmoe, AdamFirstLayerThenHeavyBallMatchHandValues) {
  MoeOptions o;
  o.momentum = "adam";
  o.beta1 = 0.5, o.beta2 = 0.75, o.adam_gamma = 2.0, o.adam_eps = 0.0;  // round numbers by hand
  o.gamma = 0.5, o.mu = 0.5;
  auto l0 = known_expert_layer(o, 0), l1 = known_expert_layer(o, 1);
  ForwardContext ctx;
  // Layer 0, x = [[2, 4], [6, 1]]: f = [[2, -4], [6, -1]]
  //   m = 0.5 f = [[1, -2], [3, -0.5]],  v = 0.25 f^2 = [[1, 4], [9, 0.25]],  sqrt(v) = [[1, 2], [3, 0.5]]
  //   out = 2 m / sqrt(v) = [[2, -2], [2, -2]]  (sign-like: (1-b1)/sqrt(1-b2) * gamma1 * sign(f))
  expect_values(l0->forward(t2({2, 4, 6, 1}), ctx), t2({2, -2, 2, -2}), 1e-6, "adam layer 0");
  //   heavy-ball state p0 = gamma f = [[1, -2], [3, -0.5]]
  expect_values(ctx.carry.at("moe.momentum"), t2({1, -2, 3, -0.5}), 1e-7, "p0");
  // Layer 1, x = [[1, 2], [0.5, 3]]: f = [[1, -2], [0.5, -3]]
  //   p1 = 0.5 p0 + 0.5 f = [[0.5, -1], [1.5, -0.25]] + [[0.5, -1], [0.25, -1.5]] = [[1, -2], [1.75, -1.75]]
  expect_values(l1->forward(t2({1, 2, 0.5, 3}), ctx), t2({1, -2, 1.75, -1.75}), 1e-6, "heavy ball layer 1");
}

TEST(MomentumSmoe, AdamWithThePapersDefaultsIsNearlySignOfF) {
  // b1 0.9, b2 0.999, gamma1 1, eps 1e-8: out = 0.1 f / sqrt(0.001 f^2 + 1e-8) ~ sqrt(10) sign(f);
  // for |f| = 2: 0.2 / sqrt(0.004 + 1e-8) = sqrt(10) / sqrt(1 + 2.5e-6) = 3.1622737...
  MoeOptions o;
  o.momentum = "adam";
  auto l0 = known_expert_layer(o, 0);
  ForwardContext ctx;
  const double s = std::sqrt(10.0) / std::sqrt(1.0 + 2.5e-6);
  expect_values(l0->forward(t2({2, 2, 2, 2}), ctx), t2({float(s), float(-s), float(s), float(-s)}), 1e-5, "adam");
}

TEST(MomentumSmoe, RobustMomentumMatchesHandValues) {
  MoeOptions o;
  o.momentum = "robust";
  o.rho = 0.5, o.kappa = 2.0;
  // alpha = 2 * 0.25 * 1.5 = 0.75;  beta = 2 * 0.125 / 1 = 0.25;  lookahead = 0.125 / (1 * 0.25 * 1.5) = 1/3
  const double r = o.rho, k = o.kappa;
  ASSERT_DOUBLE_EQ(k * (1 - r) * (1 - r) * (1 + r), 0.75);
  ASSERT_DOUBLE_EQ(k * r * r * r / (k - 1), 0.25);
  ASSERT_DOUBLE_EQ(r * r * r / ((k - 1) * (1 - r) * (1 - r) * (1 + r)), 1.0 / 3.0);
  auto l0 = known_expert_layer(o, 0), l1 = known_expert_layer(o, 1);
  ForwardContext ctx;
  // Layer 0 (no earlier state), x = [[2, 4], [6, 1]]: f = [[2, -4], [6, -1]], p0 = 0.75 f
  expect_values(l0->forward(t2({2, 4, 6, 1}), ctx), t2({1.5, -3, 4.5, -0.75}), 1e-6, "robust layer 0");
  // Layer 1, x = [[1, 3], [0.5, 3]]: lookahead input x + p0 / 3 = [[1.5, 2], [2, 2.75]]
  //   f = [[1.5, -2], [2, -2.75]];  p1 = 0.25 p0 + 0.75 f
  //      = [[0.375, -0.75], [1.125, -0.1875]] + [[1.125, -1.5], [1.5, -2.0625]] = [[1.5, -2.25], [2.625, -2.25]]
  expect_values(l1->forward(t2({1, 3, 0.5, 3}), ctx), t2({1.5, -2.25, 2.625, -2.25}), 1e-6, "robust layer 1");
}

TEST(MomentumSmoe, RobustIsCyrusUpdateOnTheResidualStream) {
  // With h_{l+1} = h_l + p_l (the block's residual) and the layer reading x_l = h_l, the recursion is
  // Cyrus et al.'s  h_{l+1} = h_l + beta (h_l - h_{l-1}) + alpha f(y_l),  y_l = h_l + lookahead (h_l - h_{l-1}).
  MoeOptions o;
  o.momentum = "robust";
  o.rho = 0.5, o.kappa = 2.0;
  const double alpha = 0.75, beta = 0.25, look = 1.0 / 3.0;
  std::vector<std::shared_ptr<MoeFfn>> layers;
  for (int64_t l = 0; l < 3; ++l) layers.push_back(known_expert_layer(o, l));
  auto f = [](const at::Tensor& x) { return at::stack({x.select(-1, 0).relu(), -x.select(-1, 1).relu()}, -1); };
  at::Tensor h = t2({2, 4, 6, 1}), h_prev = h;  // no step before layer 0: h_{-1} = h_0
  ForwardContext ctx;
  for (int64_t l = 0; l < 3; ++l) {
    at::Tensor d = h - h_prev;
    at::Tensor want = h + beta * d + alpha * f(h + look * d);
    at::Tensor got = h + layers[static_cast<size_t>(l)]->forward(h, ctx);
    expect_values(got, want, 1e-5, "h_{l+1}");
    h_prev = h, h = got;
  }
}
