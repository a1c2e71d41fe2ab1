// Hyena mixer: shapes, causality, selectable from the model config, fused op == ATen reference
// (values and gradients), any order N >= 2, bad options rejected.
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/core/precision.h"
#include "lmforge/models/language_model.h"
#include "../test_util.h"
#include "lmforge/nn/hyena.h"

using namespace lmforge;

namespace {

ModelConfig tiny(const std::string& hyena_opts) {
  toml::table t = parse_toml_string(
      "vocab_size = 50\nd_model = 32\nn_layers = 2\nmax_seq_len = 64\nposition = \"none\"\n[block]\nmixer = \"hyena\"\n"
      "hyena = { " + hyena_opts + " }\n",
      "test");
  return parse_model_config(&t, "model");
}

LayerContext ctx32() {
  LayerContext c;
  c.d_model = 32, c.max_seq_len = 64, c.n_layers = 2;
  return c;
}

}  // namespace

TEST(Hyena, ConfigSelectsItAndShapesHold) {
  ModelConfig mc = tiny("order = 3");
  ASSERT_EQ(mc.layers.size(), 2u);
  EXPECT_EQ(mc.layers[0].mixer, "hyena");
  at::manual_seed(0);
  LanguageModel m(mc);
  at::Tensor x = at::randint(0, 50, {2, 20}, at::kLong);
  ForwardContext c;
  at::Tensor h = m.hidden(x, c);
  EXPECT_EQ(h.sizes(), (std::vector<int64_t>{2, 20, 32}));
  EXPECT_TRUE(h.isfinite().all().item<bool>());
}

TEST(Hyena, FutureTokensNeverChangePastOutputs) {
  for (const char* order : {"order = 2", "order = 3", "gated = false"}) {
    at::manual_seed(1);
    LanguageModel m(tiny(order));
    m.eval();
    at::Tensor a = at::randint(0, 50, {2, 24}, at::kLong), b = a.clone();
    b.narrow(1, 13, 11).random_(0, 50);
    ForwardContext c1, c2;
    at::Tensor ha = m.hidden(a, c1), hb = m.hidden(b, c2);
    EXPECT_EQ(test::causality_violation(ha, hb, 13), "") << order;
  }
}

TEST(Hyena, FusedEqualsReferenceValuesAndGradients) {
  HyenaOptions fo, ro;
  ro.fused = false;
  at::manual_seed(2);
  Hyena fused(fo, ctx32());
  at::manual_seed(2);
  Hyena ref(ro, ctx32());
  at::Tensor x = at::randn({3, 40, 32});
  ForwardContext c;
  at::Tensor g = at::randn({3, 40, 32});
  at::Tensor yf = fused.forward(x, c), yr = ref.forward(x, c);
  EXPECT_TRUE(at::allclose(yf, yr, 1e-4, 1e-5));
  (yf * g).sum().backward();
  (yr * g).sum().backward();
  auto pf = fused.named_parameters(), pr = ref.named_parameters();
  for (const auto& p : pf) {
    if (!p.value().requires_grad()) continue;  // the positional features are fixed by default
    const at::Tensor& a = p.value().grad();
    const at::Tensor& b = pr[p.key()].grad();
    ASSERT_TRUE(a.defined() && b.defined()) << p.key();
    EXPECT_TRUE(at::allclose(a, b, 1e-3, 1e-4)) << p.key() << " max diff " << (a - b).abs().max().item<double>();
  }
}

// The bf16 training path (autocast: bf16 projections, the fused short conv and, on AMX machines,
// the tile FFT kernel) against the same layer on the ATen reference ops under the same autocast.
// Both round activations to bf16 at the same places, so they agree to a few bf16 ulps of the
// tensor's scale: 3% of its largest entry.
TEST(Hyena, FusedEqualsReferenceUnderBf16Autocast) {
  HyenaOptions fo, ro;
  ro.fused = false;
  at::manual_seed(5);
  Hyena fused(fo, ctx32());
  at::manual_seed(5);
  Hyena ref(ro, ctx32());
  at::Tensor x = at::randn({2, 48, 32}), g = at::randn({2, 48, 32});
  ForwardContext c;
  at::Tensor yf, yr;
  {
    AutocastGuard ac(at::kBFloat16, at::Device(at::kCPU));
    yf = fused.forward(x, c).to(at::kFloat);
    yr = ref.forward(x, c).to(at::kFloat);
  }
  auto close = [](const at::Tensor& a, const at::Tensor& b) {
    return (a - b).abs().max().item<double>() <= 0.03 * b.abs().max().item<double>();
  };
  EXPECT_TRUE(close(yf, yr)) << "max diff " << (yf - yr).abs().max().item<double>();
  (yf * g).sum().backward();
  (yr * g).sum().backward();
  auto pf = fused.named_parameters(), pr = ref.named_parameters();
  for (const auto& p : pf) {
    if (!p.value().requires_grad()) continue;
    const at::Tensor a = p.value().grad().to(at::kFloat), b = pr[p.key()].grad().to(at::kFloat);
    EXPECT_TRUE(close(a, b)) << p.key() << " max diff " << (a - b).abs().max().item<double>() << " of "
                             << b.abs().max().item<double>();
  }
}

TEST(Hyena, FiltersDecayAndHaveTheRightShape) {
  HyenaOptions o;
  o.order = 3;
  Hyena h(o, ctx32());
  torch::NoGradGuard ng;
  at::Tensor k = h.filters(64);
  EXPECT_EQ(k.sizes(), (std::vector<int64_t>{2, 32, 64}));
  // the modulation makes the tail of every filter small relative to its head
  EXPECT_LT(k.narrow(2, 48, 16).abs().max().item<double>(), k.narrow(2, 0, 16).abs().max().item<double>());
}

TEST(Hyena, TrainsUnderBf16Autocast) {
  at::manual_seed(3);
  LanguageModel m(tiny("order = 2"));
  at::Tensor x = at::randint(0, 50, {2, 32}, at::kLong);
  ForwardContext c;
  at::Tensor h;
  {
    AutocastGuard ac(at::kBFloat16, at::Device(at::kCPU));
    h = m.hidden(x, c);
  }
  h.to(at::kFloat).pow(2).mean().backward();
  for (const auto& p : m.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(p.value().grad().isfinite().all().item<bool>()) << p.key();
  }
}

TEST(Hyena, RejectsBadOptions) {
  EXPECT_THROW(LanguageModel(tiny("order = 1")), ConfigError);
  EXPECT_THROW(LanguageModel(tiny("emb_dim = 4")), ConfigError);
  EXPECT_THROW(tiny("no_such_key = 1"), ConfigError);
}
