// Routing Transformer attention: its oracles (one cluster + full window = full attention on the
// normalised shared q/k; causality by perturbing future tokens; padding; EMA k-means; float64 gradients).
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "lmforge/models/language_model.h"
#include "../test_util.h"
#include "lmforge/nn/attention.h"
#include "lmforge/nn/routing.h"
#include "lmforge/ops/banded_attn/op.h"

using namespace lmforge;

namespace {

std::shared_ptr<RoutingAttention> make(int64_t d, int64_t heads, int64_t routing, int64_t window, int64_t clusters,
                                       int64_t cw, const std::string& assignment, int64_t max_len = 64) {
  RoutingOptions o;
  o.n_heads = heads, o.n_routing_heads = routing, o.window = window, o.n_clusters = clusters;
  o.cluster_window = cw, o.assignment = assignment;
  LayerContext c;
  c.d_model = d, c.max_seq_len = max_len, c.position = "none";
  return std::make_shared<RoutingAttention>(o, c);
}

ModelConfig tiny(const std::string& opts) {
  toml::table t = parse_toml_string(
      "vocab_size = 50\nd_model = 32\nn_layers = 2\nmax_seq_len = 64\nposition = \"rope\"\n[block]\nmixer = "
      "\"routing\"\nrouting = { n_heads = 4, n_routing_heads = 2" + opts + " }\n", "test");
  return parse_model_config(&t, "model");
}

at::Tensor unit(const at::Tensor& x) { return at::layer_norm(x, {x.size(-1)}); }

}  // namespace

class RoutingModes : public ::testing::TestWithParam<std::string> {};

TEST_P(RoutingModes, OneClusterFullWindowEqualsFullAttentionOnNormalisedQK) {
  at::manual_seed(0);
  auto m = make(16, 2, 2, 0, 1, 0, GetParam());
  at::Tensor xr = unit(at::randn({2, 2, 23, 8}, at::kDouble)), v = at::randn({2, 2, 23, 8}, at::kDouble);
  for (bool causal : {true, false}) {
    at::Tensor y = m->route(xr, v, at::Tensor(), causal, 23);
    at::Tensor ref = softmax_attention(xr, xr, v, causal, 0, {}, {}, 0.0, false);
    EXPECT_TRUE(at::allclose(y, ref, 1e-10, 1e-10)) << "causal " << causal << " max err "
                                                    << (y - ref).abs().max().item<double>();
  }
}

TEST_P(RoutingModes, ManyClustersWithFullWindowsCoverEveryToken) {
  // Balanced with w = L: every cluster holds every token, so the average equals full attention.
  if (GetParam() != "balanced") GTEST_SKIP() << "balanced-only oracle";
  at::manual_seed(1);
  auto m = make(16, 2, 2, 0, 3, 19, "balanced");
  at::Tensor xr = unit(at::randn({1, 2, 19, 8}, at::kDouble)), v = at::randn({1, 2, 19, 8}, at::kDouble);
  at::Tensor ref = softmax_attention(xr, xr, v, true, 0, {}, {}, 0.0, false);
  EXPECT_TRUE(at::allclose(m->route(xr, v, at::Tensor(), true, 19), ref, 1e-10, 1e-10));
}

INSTANTIATE_TEST_SUITE_P(Routing, RoutingModes, ::testing::Values("nearest", "balanced"));

TEST(Routing, BandedOracleEqualsEngineAttentionWithWindow) {
  at::manual_seed(2);
  at::Tensor q = at::randn({3, 30, 8}, at::kDouble), k = at::randn({3, 30, 8}, at::kDouble),
             v = at::randn({3, 30, 8}, at::kDouble);
  for (bool causal : {true, false}) {
    at::Tensor ref = softmax_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), causal, 7, {}, {}, 0.0, false)[0];
    EXPECT_TRUE(at::allclose(banded_attention(q, k, v, {}, {}, 7, causal), ref, 1e-10, 1e-10));
    EXPECT_TRUE(at::allclose(banded_attention_ref(q, k, v, {}, {}, 7, causal), ref, 1e-10, 1e-10));
  }
}

TEST(Routing, FutureTokensNeverChangePastOutputs) {
  at::manual_seed(3);
  LanguageModel m(tiny(", window = 4, n_clusters = 3, cluster_window = 4"));
  m.eval();
  at::Tensor a = at::randint(0, 50, {2, 40}, at::kLong), b = a.clone();
  b.narrow(1, 25, 15).random_(0, 50);
  ForwardContext c1, c2;
  at::Tensor ha = m.hidden(a, c1), hb = m.hidden(b, c2);
  EXPECT_EQ(test::causality_violation(ha, hb, 25), "");
}

TEST(Routing, MixerLevelFutureInputsNeverChangePastOutputs) {
  at::manual_seed(4);
  auto m = make(32, 4, 2, 5, 4, 6, "nearest");
  at::Tensor x = at::randn({2, 50, 32}), y = x.clone();
  y.narrow(1, 30, 20).normal_();
  m->eval();
  ForwardContext c;
  at::Tensor ox = m->forward(x, c), oy = m->forward(y, c);
  EXPECT_EQ(test::causality_violation(ox, oy, 30), "");
}

TEST(Routing, PaddedKeysDoNotReachRealTokens) {
  at::manual_seed(5);
  for (const char* mode : {"nearest", "balanced"}) {
    auto m = make(32, 4, 2, 5, 3, 0, mode);
    m->eval();
    at::Tensor x = at::randn({2, 40, 32}), y = x.clone();
    at::Tensor valid = at::rand({2, 40}) > 0.3;
    y.index_put_({valid.logical_not()}, at::randn({(valid.logical_not()).sum().item<int64_t>(), 32}));
    ForwardContext c;
    c.key_padding = valid;
    at::Tensor ox = m->forward(x, c), oy = m->forward(y, c);
    // Balanced routing picks members by score among real tokens only, so real outputs stay fixed too.
    EXPECT_TRUE(at::allclose(ox.index({valid}), oy.index({valid}), 1e-5, 1e-6)) << mode;
  }
}

TEST(Routing, EmaKMeansOnAFixedBatchReachesAFixedPoint) {
  at::manual_seed(6);
  RoutingOptions o;
  o.n_heads = 1, o.n_routing_heads = 1, o.n_clusters = 3, o.decay = 0.0;
  LayerContext c;
  c.d_model = 8, c.position = "none";
  RoutingAttention m(o, c);
  // Three well-separated blobs of normalised vectors.
  at::Tensor centres = unit(at::randn({3, 8})) * 3;
  at::Tensor x = unit(centres.repeat({20, 1}) + 0.3 * at::randn({60, 8})).view({1, 1, 60, 8});
  {
    torch::NoGradGuard ng;  // seed each centroid in a different blob (k-means++-like), as k-means needs
    m.centroids[0].copy_(x[0][0].narrow(0, 0, 3));
  }
  for (int it = 0; it < 20; ++it) m.update_centroids(x, at::Tensor());
  // Fixed point: every centroid is the normalised mean of its members (a k-means / Lloyd solution).
  at::Tensor xf = x.view({60, 8});
  at::Tensor assign = at::matmul(xf, m.centroids[0].t()).argmax(-1);
  for (int64_t k = 0; k < 3; ++k) {
    at::Tensor members = xf.index({assign == k});
    if (members.size(0) == 0) continue;
    EXPECT_TRUE(at::allclose(m.centroids[0][k], unit(members.mean(0)), 1e-4, 1e-4)) << "cluster " << k;
  }
  // Each blob sits in one cluster.
  EXPECT_EQ(std::get<0>(at::_unique(assign)).numel(), 3);
}

TEST(Routing, CentroidsMoveOnlyInTrainingAndCommitmentLossIsReported) {
  at::manual_seed(7);
  auto m = make(32, 4, 2, 5, 4, 0, "nearest");
  at::Tensor x = at::randn({2, 30, 32});
  at::Tensor before = m->centroids.clone();
  m->eval();
  ForwardContext c;
  m->forward(x, c);
  EXPECT_TRUE(at::equal(before, m->centroids));
  EXPECT_TRUE(c.aux_losses.empty());
  m->train();
  ForwardContext t;
  t.training = true;
  m->forward(x, t);
  EXPECT_FALSE(at::equal(before, m->centroids));
  ASSERT_EQ(t.aux_losses.size(), 1u);
  EXPECT_GT(t.aux_losses.begin()->second.item<double>(), 0.0);
}

TEST(Routing, MixerGradientsMatchFloat64FiniteDifferences) {
  at::manual_seed(8);
  for (const char* mode : {"nearest", "balanced"}) {
    auto m = make(16, 4, 2, 3, 3, 5, mode);
    m->to(at::kDouble);
    m->eval();
    at::Tensor x = at::randn({1, 17, 16}, at::kDouble).requires_grad_(true), g = at::randn({1, 17, 16}, at::kDouble);
    ForwardContext c;
    at::Tensor gx = torch::autograd::grad({(m->forward(x, c) * g).sum()}, {x})[0];
    at::Tensor xd = x.detach();
    for (int probe = 0; probe < 24; ++probe) {
      const int64_t i = (probe * 37) % xd.numel();
      const double eps = 1e-6;
      at::Tensor xp = xd.clone(), xm = xd.clone();
      xp.view(-1)[i] += eps, xm.view(-1)[i] -= eps;
      const double fd = ((m->forward(xp, c) - m->forward(xm, c)) * g).sum().item<double>() / (2 * eps);
      EXPECT_NEAR(gx.view(-1)[i].item<double>(), fd, 1e-6 + 1e-5 * std::abs(fd)) << mode << " element " << i;
    }
  }
}

TEST(Routing, RejectsBadOptions) {
  EXPECT_THROW(make(32, 4, 5, 4, 0, 0, "nearest"), ConfigError);
  EXPECT_THROW(make(32, 4, 2, 4, 0, 0, "random"), ConfigError);
}
