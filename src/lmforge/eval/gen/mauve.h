// MAUVE (Pillutla et al., NeurIPS 2021; "MAUVE scores for generative models", JMLR 2023): how close
// the distribution Q of model text is to the distribution P of human text, from feature vectors of
// each text (here the final hidden state of an lmforge model at the text's last token; the paper uses
// GPT-2 large's).
//
// The pipeline of the reference package (mauve-text 0.4, compute_mauve), step by step:
//  1. each feature row scaled to unit L2 norm; P and Q stacked;
//  2. PCA (centred, not whitened), keeping the leading components whose explained variance first
//     reaches `explained_variance` (0.9);
//  3. k-means on the projected rows, k = num_buckets ("auto": max(2, round(min(|P|, |Q|) / 10))),
//     best of `kmeans_redo` seeded restarts by the k-means objective (ours: k-means++ seeding);
//  4. histograms p, q of the cluster labels of P's and Q's rows;
//  5. the divergence frontier: for w in linspace(1e-6, 1 - 1e-6, curve_points), r = w p + (1 - w) q,
//     the point (exp(-c KL(q || r)), exp(-c KL(p || r))), plus the end points (1, 0) and (0, 1);
//  6. MAUVE = the mean of the trapezoid areas under the curve taken along x and along y; c is
//     `scaling` (5 in the package and in DITTO's tables).
// Steps 5-6 are exact functions of the histograms (mauve_from_histograms); steps 1-4 match the
// package's up to k-means' local optimum, so scores on the same features agree where the clustering
// does (tests/eval/mauve_test.cpp; bench/peers/mauve_check.py compares with the package).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace lmforge::eval {

struct MauveOptions {
  int64_t num_buckets = 0;  // 0: auto
  double explained_variance = 0.9;
  int kmeans_redo = 5;
  int kmeans_iters = 500;
  int curve_points = 25;
  double scaling = 5.0;
  uint64_t seed = 25;
};

struct MauveResult {
  double mauve = 0;
  double frontier_integral = 0;  // the package's second score (lower is closer), scaling 2
  std::vector<double> p_hist, q_hist;
  std::vector<std::pair<double, double>> curve;  // including the two end points
  int64_t buckets = 0, pca_dims = 0;
};

// p_features: (n_p, d) human text; q_features: (n_q, d) model text (any float dtype).
MauveResult mauve(const at::Tensor& p_features, const at::Tensor& q_features, const MauveOptions& o = {});

// Steps 5-6 on given histograms (each sums to 1).
MauveResult mauve_from_histograms(const std::vector<double>& p, const std::vector<double>& q, int curve_points = 25,
                                  double scaling = 5.0);

// k-means (Lloyd, k-means++ seeding, best of `redo`): the label of each row of x (n, d) float64.
std::vector<int64_t> kmeans_labels(const at::Tensor& x, int64_t k, int redo, int iters, uint64_t seed);

}  // namespace lmforge::eval
