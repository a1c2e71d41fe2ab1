// Sparse MoE and MomentumSMoE: sorted dispatch equals a per-token loop, capacity, balance loss,
// momentum recursion across layers, mu = 0 equals plain SMoE exactly (outputs and gradients).
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "lmforge/models/language_model.h"
#include "lmforge/nn/moe.h"

using namespace lmforge;

namespace {

std::shared_ptr<MoeFfn> make(MoeOptions o, int64_t layer = 0, int64_t d = 16) {
  LayerContext c;
  c.d_model = d, c.layer_index = layer, c.n_layers = 3;
  c.init_std = 0.2;
  return std::make_shared<MoeFfn>(o, c);
}

// y_t = sum over the top-k experts of softmax(top logits) * expert(x_t), one token at a time.
at::Tensor naive(MoeFfn& m, const at::Tensor& x, int64_t k) {
  at::Tensor X = x.reshape({-1, x.size(-1)});
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < X.size(0); ++t) {
    at::Tensor logits = at::linear(X[t], m.gate->weight, m.gate->bias);
    auto [v, i] = logits.topk(k);
    at::Tensor w = at::softmax(v, 0), y = at::zeros_like(X[t]);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = i[j].item<int64_t>();
      y = y + w[j] * at::linear(at::relu(at::linear(X[t], m.w1[e], m.b1[e])), m.w2[e], m.b2[e]);
    }
    rows.push_back(y);
  }
  return at::stack(rows).view(x.sizes());
}

}  // namespace

TEST(Moe, SortedDispatchEqualsPerTokenLoop) {
  at::manual_seed(0);
  MoeOptions o;
  o.n_experts = 5, o.top_k = 2, o.hidden = 12, o.capacity_factor = 0;
  auto m = make(o);
  at::Tensor x = at::randn({3, 7, 16});
  ForwardContext c;
  EXPECT_TRUE(at::allclose(m->forward(x, c), naive(*m, x, 2), 1e-5, 1e-5));
}

TEST(Moe, CapacityDropsLateAssignments) {
  at::manual_seed(1);
  MoeOptions o;
  o.n_experts = 4, o.top_k = 1, o.hidden = 8, o.capacity_factor = 1e-9;  // one assignment per expert
  auto m = make(o);
  at::Tensor x = at::randn({1, 30, 16});
  ForwardContext c;
  at::Tensor y = m->forward(x, c);
  const int64_t served = (y.abs().sum(-1) > 0).sum().item<int64_t>();
  EXPECT_LE(served, 4);
  EXPECT_GE(served, 1);
  // The first token always keeps its expert.
  EXPECT_TRUE(at::allclose(y[0][0], naive(*m, x.narrow(1, 0, 1), 1)[0][0], 1e-5, 1e-5));
}

TEST(Moe, BalanceLossIsOneTimesWeightForUniformGates) {
  MoeOptions o;
  o.n_experts = 6, o.top_k = 2, o.balance_weight = 0.5;
  auto m = make(o);
  {
    torch::NoGradGuard ng;
    m->gate->weight.zero_();
    m->gate->bias.zero_();
  }
  m->train();
  ForwardContext c;
  c.training = true;
  m->forward(at::randn({2, 9, 16}), c);
  ASSERT_EQ(c.aux_losses.size(), 1u);
  EXPECT_NEAR(c.aux_losses.begin()->second.item<double>(), 0.5, 1e-6);
}

TEST(Moe, GradientsMatchFloat64FiniteDifferences) {
  at::manual_seed(2);
  MoeOptions o;
  o.n_experts = 4, o.top_k = 2, o.hidden = 6, o.capacity_factor = 1.0, o.activation = "gelu";
  auto m = make(o, 0, 8);
  m->to(at::kDouble);
  at::Tensor x = at::randn({2, 5, 8}, at::kDouble).requires_grad_(true), g = at::randn({2, 5, 8}, at::kDouble);
  ForwardContext c;
  auto grads = torch::autograd::grad({(m->forward(x, c) * g).sum()}, {x, m->w1, m->gate->weight});
  std::vector<at::Tensor> targets = {x, m->w1, m->gate->weight};
  for (size_t a = 0; a < targets.size(); ++a) {
    at::Tensor p = targets[a];
    for (int probe = 0; probe < 12; ++probe) {
      const int64_t i = (probe * 29 + 3) % p.numel();
      const double eps = 1e-6;
      torch::NoGradGuard ng;
      const double orig = p.view(-1)[i].item<double>();
      p.view(-1)[i].fill_(orig + eps);
      const double fp = (m->forward(x, c) * g).sum().item<double>();
      p.view(-1)[i].fill_(orig - eps);
      const double fm = (m->forward(x, c) * g).sum().item<double>();
      p.view(-1)[i].fill_(orig);
      const double fd = (fp - fm) / (2 * eps);
      EXPECT_NEAR(grads[a].view(-1)[i].item<double>(), fd, 1e-6 + 1e-5 * std::abs(fd)) << "tensor " << a << " i " << i;
    }
  }
}

TEST(Moe, HeavyBallStateIsTheDiscountedSumOfExpertOutputs) {
  at::manual_seed(3);
  MoeOptions plain;
  plain.n_experts = 4, plain.hidden = 8;
  MoeOptions mom = plain;
  mom.momentum = "heavy_ball", mom.mu = 0.7, mom.gamma = 0.8;
  std::vector<std::shared_ptr<MoeFfn>> layers, refs;
  for (int64_t l = 0; l < 3; ++l) {
    layers.push_back(make(mom, l));
    refs.push_back(make(plain, l));
    for (const auto& p : layers.back()->named_parameters()) {
      torch::NoGradGuard ng;
      refs.back()->named_parameters()[p.key()].copy_(p.value());
    }
  }
  std::vector<at::Tensor> xs = {at::randn({2, 5, 16}), at::randn({2, 5, 16}), at::randn({2, 5, 16})};
  ForwardContext ctx;
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reuses the context: the state must reset
    ForwardContext r;
    at::Tensor expect = at::zeros({2, 5, 16});
    for (int64_t l = 0; l < 3; ++l) {
      expect = 0.7 * expect + 0.8 * refs[l]->forward(xs[l], r);
      EXPECT_TRUE(at::allclose(layers[l]->forward(xs[l], ctx), expect, 1e-5, 1e-6)) << "layer " << l;
    }
  }
}

namespace {
ModelConfig moe_model(const std::string& momentum) {
  toml::table t = parse_toml_string(
      "vocab_size = 40\nd_model = 16\nn_layers = 3\nmax_seq_len = 32\n[block]\nffn = \"moe\"\n"
      "attention = { n_heads = 2 }\nmoe = { n_experts = 4, top_k = 2, hidden = 8, momentum = \"" + momentum +
      "\", mu = 0.0, gamma = 1.0 }\n", "test");
  return parse_model_config(&t, "model");
}
}  // namespace

TEST(Moe, ZeroMomentumEqualsPlainSmoeExactly) {
  at::manual_seed(4);
  LanguageModel a(moe_model("none"));
  LanguageModel b(moe_model("heavy_ball"));
  {
    torch::NoGradGuard ng;
    auto pb = b.named_parameters();
    for (const auto& p : a.named_parameters()) pb[p.key()].copy_(p.value());
  }
  a.train(), b.train();
  at::Tensor tokens = at::randint(0, 40, {2, 12}, at::kLong);
  ForwardContext ca, cb;
  at::Tensor ha = a.hidden(tokens, ca), hb = b.hidden(tokens, cb);
  EXPECT_TRUE(at::equal(ha, hb));
  at::Tensor la = ha.pow(2).sum(), lb = hb.pow(2).sum();
  for (const auto& [k, v] : ca.aux_losses) la = la + v;
  for (const auto& [k, v] : cb.aux_losses) lb = lb + v;
  EXPECT_EQ(ca.aux_losses.size(), 3u);
  la.backward(), lb.backward();
  auto pb = b.named_parameters();
  for (const auto& p : a.named_parameters())
    EXPECT_TRUE(at::equal(p.value().grad(), pb[p.key()].grad())) << p.key();
}

TEST(Moe, AdamAndRobustVariantsRunAndDiffer) {
  at::manual_seed(5);
  for (const char* v : {"adam", "robust"}) {
    LanguageModel m(moe_model(v));
    ForwardContext c;
    at::Tensor h = m.hidden(at::randint(0, 40, {2, 12}, at::kLong), c);
    EXPECT_TRUE(h.isfinite().all().item<bool>()) << v;
    h.sum().backward();
  }
}

TEST(Moe, RejectsBadOptions) {
  MoeOptions o;
  o.top_k = 9;
  EXPECT_THROW(make(o), ConfigError);
  o.top_k = 2, o.momentum = "nesterov";
  EXPECT_THROW(make(o), ConfigError);
}
