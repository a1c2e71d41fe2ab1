// kNN-LM's distributions (retrieval/knn_distribution.h) against their direct, double-precision
// definitions: p_kNN aggregates neighbours by token and sums to 1, the log-space mixture equals
// direct mixing and sums to 1, lambda 0 returns the LM bit for bit. No FAISS needed.
#include <gtest/gtest.h>

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/retrieval/knn_distribution.h"

namespace lr = lmforge::retrieval;

namespace {

// p_kNN by its definition, in double, for one row.
std::vector<double> direct_knn(const at::Tensor& d, const at::Tensor& v, int64_t vocab, double T) {
  std::vector<double> p(vocab, 0.0);
  double z = 0;
  for (int64_t j = 0; j < d.numel(); ++j) {
    if (v[j].item<int64_t>() < 0) continue;
    const double w = std::exp(-d[j].item<double>() / T);
    p[v[j].item<int64_t>()] += w;
    z += w;
  }
  for (double& x : p) x /= z;
  return p;
}

struct Case {
  at::Tensor dists, vals;
  int64_t vocab = 13;
};

Case make_case() {
  at::manual_seed(7);
  Case c;
  c.dists = std::get<0>(at::rand({5, 9}, at::kFloat).mul(6).sort(1));
  c.vals = at::randint(0, 4, {5, 9}, at::kLong);  // few tokens: many neighbours share one
  c.vals[2][8] = -1;                              // fewer than k found
  return c;
}

}  // namespace

TEST(KnnDistribution, MatchesDefinitionAndSumsToOne) {
  Case c = make_case();
  for (double T : {0.5, 1.0, 3.0}) {
    at::Tensor lp = lr::knn_log_probs(c.dists, c.vals, c.vocab, T);
    ASSERT_EQ(lp.sizes(), at::IntArrayRef({5, c.vocab}));
    EXPECT_NEAR(lp.exp().sum(1).sub(1).abs().max().item<double>(), 0.0, 1e-6);
    for (int64_t q = 0; q < 5; ++q) {
      std::vector<double> p = direct_knn(c.dists[q], c.vals[q], c.vocab, T);
      for (int64_t y = 0; y < c.vocab; ++y) {
        if (p[y] == 0) EXPECT_EQ(lp[q][y].item<float>(), -INFINITY) << "token " << y << " has no neighbour";
        else EXPECT_NEAR(lp[q][y].item<double>(), std::log(p[y]), 1e-5) << "q " << q << " y " << y;
      }
    }
    // The one-token form equals the gathered full form.
    at::Tensor tg = at::tensor(std::vector<int64_t>{0, 1, 2, 3, 7});
    at::Tensor one = lr::knn_target_log_probs(c.dists, c.vals, tg, T);
    at::Tensor full = lp.gather(1, tg.view({-1, 1})).squeeze(1);
    EXPECT_TRUE(at::allclose(one.masked_fill(one.isinf(), 0), full.masked_fill(full.isinf(), 0), 1e-6, 1e-6));
    EXPECT_TRUE(at::equal(one.isinf(), full.isinf()));
  }
}

TEST(KnnDistribution, StableWhereDirectSoftmaxUnderflows) {
  // exp(-d/T) is 0 in fp32 and double for these: the direct form divides 0 by 0.
  at::Tensor d = at::tensor(std::vector<float>{1e5f, 1e5f + 1, 1e5f + 2}).view({1, 3});
  at::Tensor v = at::tensor(std::vector<int64_t>{3, 3, 1}).view({1, 3});
  at::Tensor lp = lr::knn_log_probs(d, v, 4, 1.0);
  EXPECT_FALSE(lp.isnan().any().item<bool>());
  const double z = 1 + std::exp(-1.0) + std::exp(-2.0);
  EXPECT_NEAR(lp[0][3].item<double>(), std::log((1 + std::exp(-1.0)) / z), 1e-5);
  EXPECT_NEAR(lp[0][1].item<double>(), std::log(std::exp(-2.0) / z), 1e-5);
}

TEST(KnnDistribution, InterpolationEqualsDirectMixingAndSumsToOne) {
  Case c = make_case();
  at::Tensor lp_lm = at::randn({5, c.vocab}, at::kFloat).log_softmax(1);
  at::Tensor lp_knn = lr::knn_log_probs(c.dists, c.vals, c.vocab, 1.0);
  for (double lambda : {0.0, 0.1, 0.25, 0.9, 1.0}) {
    at::Tensor mix = lr::interpolate_log_probs(lp_lm, lp_knn, lambda);
    at::Tensor direct = lambda * lp_knn.to(at::kDouble).exp() + (1 - lambda) * lp_lm.to(at::kDouble).exp();
    EXPECT_NEAR((mix.to(at::kDouble).exp() - direct).abs().max().item<double>(), 0.0, 1e-6) << lambda;
    EXPECT_NEAR(mix.to(at::kDouble).exp().sum(1).sub(1).abs().max().item<double>(), 0.0, 1e-6) << lambda;
  }
  // lambda 0 is the LM itself, bit for bit, even where p_kNN is 0 (log -inf).
  EXPECT_TRUE(at::equal(lr::interpolate_log_probs(lp_lm, lp_knn, 0.0), lp_lm));
  EXPECT_TRUE(at::equal(lr::interpolate_log_probs(lp_lm, lp_knn, 1.0), lp_knn));
  EXPECT_THROW(lr::interpolate_log_probs(lp_lm, lp_knn, 1.5), lmforge::UserError);
  EXPECT_THROW(lr::knn_log_probs(c.dists, c.vals, c.vocab, 0.0), lmforge::UserError);
}

TEST(KnnDistribution, EntropyOfKnownDistributions) {
  at::Tensor uniform = at::full({1, 4}, std::log(0.25), at::kFloat);
  EXPECT_NEAR(lr::entropy_of_log_probs(uniform).item<double>(), std::log(4.0), 1e-6);
  at::Tensor point = at::tensor(std::vector<float>{0.0f, -INFINITY, -INFINITY}).view({1, 3});
  EXPECT_EQ(lr::entropy_of_log_probs(point).item<double>(), 0.0);
}
