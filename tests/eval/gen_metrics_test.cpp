// Repetition/diversity measures and MAUVE on hand-computed cases, and MAUVE's frontier against
// values printed by the reference package (mauve-text 0.4.0, get_divergence_curve_for_multinomials
// + sklearn auc, and get_fronter_integral) for the same histograms.
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/eval/gen/mauve.h"
#include "lmforge/eval/gen/repetition.h"

using namespace lmforge::eval;

TEST(GenMetrics, SeqRepN) {
  // The spec's oracle: rep-2 of "a b a b a b" = 1 - 2 unique / 5 bigrams = 0.6.
  EXPECT_NEAR(seq_rep_n({{1, 2, 1, 2, 1, 2}}, 2), 0.6, 1e-12);
  // Averaged per continuation; one too short for a 4-gram is left out.
  EXPECT_NEAR(seq_rep_n({{1, 2, 3, 4}, {5, 5, 5, 5, 5}, {1, 2}}, 4), (0.0 + 0.5) / 2, 1e-12);
  EXPECT_EQ(seq_rep_n({}, 1), 0.0);
  EXPECT_THROW(seq_rep_n({{1}}, 0), lmforge::UserError);
}

TEST(GenMetrics, DistinctNPoolsContinuations) {
  // bigrams 12 23 | 12 24: 3 unique of 4.
  EXPECT_NEAR(distinct_n({{1, 2, 3}, {1, 2, 4}}, 2), 0.75, 1e-12);
  EXPECT_NEAR(distinct_n({{7, 7, 7}}, 1), 1.0 / 3, 1e-12);
}

TEST(GenMetrics, RepAtLCountsTheWindowBefore) {
  // prefix 1 2, continuation 2 3 1: the 2 repeats the token right before it; the 1 is 3 back.
  EXPECT_NEAR(rep_at_l({{1, 2}}, {{2, 3, 1}}, 2), 1.0 / 3, 1e-12);
  EXPECT_NEAR(rep_at_l({{1, 2}}, {{2, 3, 1}}, 3), 1.0 / 3, 1e-12);
  EXPECT_NEAR(rep_at_l({{1, 2}}, {{2, 3, 1}}, 4), 2.0 / 3, 1e-12);
  EXPECT_NEAR(rep_at_l({{}}, {{4, 4, 4}}, 16), 2.0 / 3, 1e-12);
  EXPECT_THROW(rep_at_l({{1}}, {{1}, {2}}, 4), lmforge::UserError);
}

TEST(GenMetrics, SentenceRepetition) {
  // end token 0: [5 6 .] [7 .] [7 .] [5 6 .] and a trailing 9 that ends no sentence.
  SentenceRepetition r = sentence_repetition({{5, 6, 0, 7, 0, 7, 0, 5, 6, 0, 9}}, 0);
  EXPECT_EQ(r.sentences, 4);
  EXPECT_NEAR(r.repeated, 0.5, 1e-12);
  EXPECT_NEAR(r.consecutive, 0.25, 1e-12);
  EXPECT_EQ(split_sentences({1, 2, 0, 3}, 0).size(), 1u);
}

TEST(Mauve, FrontierEqualsTheReferencePackage) {
  struct Case {
    std::vector<double> p, q;
    double mauve, fi;
  };
  // Printed by mauve-text 0.4.0 (25 curve points, c = 5; frontier integral scaling 2).
  const Case cases[] = {{{0.7, 0.2, 0.1}, {0.1, 0.3, 0.6}, 0.26298917731813637, 0.314686948104615},
                        {{0.25, 0.25, 0.5}, {0.2, 0.3, 0.5}, 0.999580195142814, 0.003374113494858527},
                        {{1.0, 0.0}, {0.0, 1.0}, 0.0040720962619612555, 1.0}};
  for (const auto& c : cases) {
    MauveResult r = mauve_from_histograms(c.p, c.q);
    EXPECT_NEAR(r.mauve, c.mauve, 1e-12);
    EXPECT_NEAR(r.frontier_integral, c.fi, 1e-12);
    EXPECT_EQ(r.curve.size(), 27u);
  }
  // Identical distributions: every frontier point is (1, 1), the area exactly 1.
  EXPECT_DOUBLE_EQ(mauve_from_histograms({0.3, 0.7}, {0.3, 0.7}).mauve, 1.0);
}

TEST(Mauve, FeaturesFromTheSameDistributionScoreHighAndSeparatedOnesLow) {
  at::manual_seed(0);
  // Four well-separated blobs in 16 dimensions; P and Q draw from them.
  at::Tensor centres = at::randn({4, 16}, at::kDouble) * 10;
  auto draw = [&](int64_t n, const std::vector<int64_t>& which) {
    at::Tensor idx = at::tensor(which, at::kLong).repeat({n / static_cast<int64_t>(which.size())});
    return centres.index_select(0, idx) + 0.1 * at::randn({idx.size(0), 16}, at::kDouble);
  };
  MauveOptions o;
  o.num_buckets = 4;
  MauveResult same = mauve(draw(200, {0, 1, 2, 3}), draw(200, {0, 1, 2, 3}), o);
  EXPECT_GT(same.mauve, 0.99);
  // Q only in two of P's four modes: the clusters find the blobs, so p = (1/4, ...), q = (1/2, 1/2, 0, 0)
  // in some order, and the score equals the frontier of those histograms exactly.
  MauveResult half = mauve(draw(200, {0, 1, 2, 3}), draw(200, {0, 1}), o);
  std::vector<double> p = half.p_hist, q = half.q_hist;
  std::sort(p.begin(), p.end());
  std::sort(q.begin(), q.end());
  EXPECT_EQ(p, (std::vector<double>{0.25, 0.25, 0.25, 0.25}));
  EXPECT_NEAR(q[0] + q[1], 0.0, 1e-12);
  EXPECT_NEAR(half.mauve, mauve_from_histograms({0.25, 0.25, 0.25, 0.25}, {0.5, 0.5, 0, 0}).mauve, 1e-12);
  EXPECT_LT(half.mauve, 0.8);
  EXPECT_THROW(mauve(at::zeros({1, 4}), at::zeros({5, 4})), lmforge::UserError);
  EXPECT_THROW(mauve(at::zeros({5, 4}), at::zeros({5, 3})), lmforge::UserError);
}

TEST(Mauve, KmeansSeparatesObviousClusters) {
  at::Tensor x = at::cat({at::zeros({5, 2}, at::kDouble), at::full({5, 2}, 100.0, at::kDouble)});
  std::vector<int64_t> l = kmeans_labels(x, 2, 3, 50, 1);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(l[i], l[0]);
  for (int i = 6; i < 10; ++i) EXPECT_EQ(l[i], l[5]);
  EXPECT_NE(l[0], l[5]);
}
