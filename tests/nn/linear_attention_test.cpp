// Linear attention mixer: every feature map is causal, decodes with its recurrent state exactly
// like the full forward, trains its feature map (Hedgehog), and the maps compute the kernels they
// claim (Taylor: 1 + q.k/sqrt(d) + (q.k)^2/(2d); Hedgehog at init: softmax([x, -x])).
#include <gtest/gtest.h>

#include <torch/autograd.h>

#include "lmforge/models/language_model.h"
#include "lmforge/nn/linear_attention.h"

using namespace lmforge;

namespace {

ModelConfig tiny(const std::string& map, const std::string& position) {
  toml::table t = parse_toml_string("vocab_size = 50\nd_model = 32\nn_layers = 2\nmax_seq_len = 64\nposition = \"" +
                                        position + "\"\n[block]\nmixer = \"linear_attention\"\n"
                                        "linear_attention = { n_heads = 4, chunk = 8, feature_map = \"" + map + "\" }\n",
                                    "test");
  return parse_model_config(&t, "model");
}

}  // namespace

class LinearAttentionMaps : public ::testing::TestWithParam<std::string> {};

TEST_P(LinearAttentionMaps, FutureTokensNeverChangePastOutputs) {
  at::manual_seed(0);
  LanguageModel m(tiny(GetParam(), "rope"));
  m.eval();
  at::Tensor a = at::randint(0, 50, {2, 20}, at::kLong), b = a.clone();
  b.narrow(1, 12, 8).random_(0, 50);
  ForwardContext c1, c2;
  at::Tensor ha = m.hidden(a, c1), hb = m.hidden(b, c2);
  EXPECT_TRUE(at::allclose(ha.narrow(1, 0, 12), hb.narrow(1, 0, 12), 1e-5, 1e-5));
  EXPECT_FALSE(at::allclose(ha.narrow(1, 12, 8), hb.narrow(1, 12, 8), 1e-5, 1e-5));
}

TEST_P(LinearAttentionMaps, RecurrentDecodingEqualsFullForward) {
  at::manual_seed(1);
  LanguageModel m(tiny(GetParam(), "rope"));
  m.eval();
  torch::NoGradGuard ng;
  at::Tensor x = at::randint(0, 50, {2, 19}, at::kLong);
  ForwardContext full;
  at::Tensor ref = m.hidden(x, full);
  auto states = m.new_states();
  ForwardContext ctx;
  std::vector<at::Tensor> outs;
  outs.push_back(m.step(x.narrow(1, 0, 5), states, ctx));  // prefill (chunked kernel), then one token at a time
  ctx.pos_offset = 5;
  for (int64_t t = 5; t < 19; ++t) {
    outs.push_back(m.step(x.narrow(1, t, 1), states, ctx));
    ctx.pos_offset += 1;
  }
  EXPECT_TRUE(at::allclose(at::cat(outs, 1), ref, 1e-4, 1e-5)) << (at::cat(outs, 1) - ref).abs().max().item<double>();
}

TEST_P(LinearAttentionMaps, GradientsReachEveryParameter) {
  at::manual_seed(2);
  LanguageModel m(tiny(GetParam(), "none"));
  m.train();
  at::Tensor x = at::randint(0, 50, {2, 12}, at::kLong);
  ForwardContext ctx;
  ctx.training = true;
  m.hidden(x, ctx).pow(2).mean().backward();
  for (const auto& p : m.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

INSTANTIATE_TEST_SUITE_P(All, LinearAttentionMaps, ::testing::Values("hedgehog", "elu", "relu", "performer", "taylor"));

TEST(LinearAttentionFeatureMaps, TaylorKernelIsSecondOrderExp) {
  auto phi = make_feature_map("taylor", 1, 4, 0);
  at::Tensor q = at::randn({1, 1, 1, 4}, at::kDouble), k = at::randn({1, 1, 1, 4}, at::kDouble);
  const double qk = (q * k).sum().item<double>();
  const double got = (phi->forward(q, true) * phi->forward(k, false)).sum().item<double>();
  EXPECT_NEAR(got, 1 + qk / 2.0 + qk * qk / 8.0, 1e-12);
  EXPECT_EQ(phi->dim(), 21);
}

TEST(LinearAttentionFeatureMaps, HedgehogStartsAsSymmetricExpAndIsPositive) {
  auto phi = make_feature_map("hedgehog", 2, 3, 0);
  at::Tensor x = 30.0 * at::randn({1, 2, 5, 3});  // large inputs: no overflow through the softmax
  at::Tensor f = phi->forward(x, true);
  at::Tensor u = at::cat({x, -x}, -1).to(at::kDouble);
  EXPECT_TRUE(at::allclose(f.to(at::kDouble), at::softmax(u, -1), 1e-5, 1e-6));
  EXPECT_TRUE(at::isfinite(f).all().item<bool>());
  EXPECT_TRUE((f >= 0).all().item<bool>());
  EXPECT_EQ(phi->dim(), 6);
}

TEST(LinearAttentionFeatureMaps, PerformerEstimatesSoftmaxKernel) {
  // E[phi(q).phi(k)] = exp(q.k / sqrt(d)) for the unnormalised (key-side) features.
  at::manual_seed(3);
  auto phi = make_feature_map("performer", 1, 4, 20000);
  at::Tensor q = 0.5 * at::randn({1, 1, 1, 4}), k = 0.5 * at::randn({1, 1, 1, 4});
  const double want = std::exp((q * k).sum().item<double>() / 2.0);
  const double got = (phi->forward(q, false) * phi->forward(k, false)).sum().item<double>() * 20000.0 / 20000.0;
  EXPECT_NEAR(got, want, 0.05 * want);
}

TEST(LinearAttentionFeatureMaps, UnknownMapIsAConfigError) {
  EXPECT_THROW(make_feature_map("cosine", 1, 4, 0), ConfigError);
}
