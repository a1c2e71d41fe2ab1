// MAUVE: the package's pipeline (feature normalisation, PCA, k-means, divergence frontier); see mauve.h.
#include "lmforge/eval/gen/mauve.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "lmforge/core/error.h"

namespace lmforge::eval {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// KL(a || b) of two histograms; infinite where a has mass and b has none.
double kl(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == 0) continue;
    if (b[i] == 0) return kInf;
    s += a[i] * std::log(a[i] / b[i]);
  }
  return s;
}

// Trapezoid area under points sorted by x (ties: the higher y first, so the area is the upper
// frontier's and identical distributions score exactly 1).
double area(std::vector<std::pair<double, double>> pts) {
  std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  double s = 0;
  for (size_t i = 1; i < pts.size(); ++i) s += (pts[i].first - pts[i - 1].first) * (pts[i].second + pts[i - 1].second) / 2;
  return s;
}

// The frontier integral of the package (scaling 2): sum over buckets of
// (p + q)/4 - p q (log p - log q) / (2 (p - q)), with the limits where a mass is 0 or p = q.
double frontier_integral(const std::vector<double>& p, const std::vector<double>& q) {
  double total = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double a = p[i], b = q[i];
    if (a == 0 && b == 0) continue;
    if (a == 0 || b == 0) {
      total += (a + b) / 4;
    } else if (std::abs(a - b) > 1e-8) {
      total += 0.25 * (a + b) - 0.5 * a * b * (std::log(a) - std::log(b)) / (a - b);
    }
  }
  return 2 * total;
}

// Squared distances of every row of x (n, d) to every centre c (k, d): (n, k).
at::Tensor sq_dists(const at::Tensor& x, const at::Tensor& c) {
  return (x.pow(2).sum(1, true) - 2 * x.matmul(c.t()) + c.pow(2).sum(1).unsqueeze(0)).clamp_min(0);
}

}  // namespace

std::vector<int64_t> kmeans_labels(const at::Tensor& x_in, int64_t k, int redo, int iters, uint64_t seed) {
  const at::Tensor x = x_in.to(at::kDouble).contiguous();
  const int64_t n = x.size(0);
  LMF_REQUIRE(k >= 1 && k <= n, UserError, "k-means: ", k, " clusters for ", n, " points");
  std::mt19937_64 rng(seed);
  double best_obj = kInf;
  at::Tensor best_labels;
  for (int r = 0; r < std::max(redo, 1); ++r) {
    // k-means++ seeding: each next centre drawn with probability proportional to D(x)^2.
    std::vector<int64_t> centres{std::uniform_int_distribution<int64_t>(0, n - 1)(rng)};
    at::Tensor d2 = sq_dists(x, x.index_select(0, at::tensor(centres, at::kLong))).select(1, 0);
    while (static_cast<int64_t>(centres.size()) < k) {
      auto acc = d2.accessor<double, 1>();
      const double total = d2.sum().item<double>();
      int64_t pick = 0;
      if (total <= 0) {
        pick = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
      } else {
        double u = std::uniform_real_distribution<double>(0, total)(rng), run = 0;
        for (pick = 0; pick < n - 1; ++pick) {
          run += acc[pick];
          if (run >= u) break;
        }
      }
      centres.push_back(pick);
      d2 = at::minimum(d2, sq_dists(x, x[pick].unsqueeze(0)).select(1, 0));
    }
    at::Tensor c = x.index_select(0, at::tensor(centres, at::kLong)).clone();
    at::Tensor labels;
    for (int it = 0; it < iters; ++it) {
      at::Tensor nl = sq_dists(x, c).argmin(1);
      if (labels.defined() && nl.equal(labels)) break;
      labels = nl;
      at::Tensor counts = at::zeros({k}, x.options()).index_add_(0, labels, at::ones({n}, x.options()));
      at::Tensor sums = at::zeros_like(c).index_add_(0, labels, x);
      at::Tensor keep = counts > 0;
      // An emptied cluster keeps its old centre (it may win points back next iteration).
      c = at::where(keep.unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), c);
    }
    const double obj = std::get<0>(sq_dists(x, c).min(1)).sum().item<double>();
    if (obj < best_obj) best_obj = obj, best_labels = sq_dists(x, c).argmin(1);
  }
  return std::vector<int64_t>(best_labels.data_ptr<int64_t>(), best_labels.data_ptr<int64_t>() + n);
}

MauveResult mauve_from_histograms(const std::vector<double>& p, const std::vector<double>& q, int curve_points,
                                  double scaling) {
  LMF_REQUIRE(p.size() == q.size() && !p.empty(), UserError, "MAUVE: histograms of sizes ", p.size(), " and ",
              q.size());
  LMF_REQUIRE(curve_points >= 2, UserError, "MAUVE: curve_points must be >= 2");
  MauveResult r;
  r.p_hist = p, r.q_hist = q;
  r.buckets = static_cast<int64_t>(p.size());
  r.curve.emplace_back(1.0, 0.0);  // exp(-c * (0, inf))
  std::vector<double> mix(p.size());
  for (int i = 0; i < curve_points; ++i) {
    const double w = 1e-6 + (1 - 2e-6) * i / (curve_points - 1);
    for (size_t j = 0; j < p.size(); ++j) mix[j] = w * p[j] + (1 - w) * q[j];
    r.curve.emplace_back(std::exp(-scaling * kl(q, mix)), std::exp(-scaling * kl(p, mix)));
  }
  r.curve.emplace_back(0.0, 1.0);
  std::vector<std::pair<double, double>> swapped;
  for (auto [x, y] : r.curve) swapped.emplace_back(y, x);
  r.mauve = 0.5 * (area(r.curve) + area(swapped));
  r.frontier_integral = frontier_integral(p, q);
  return r;
}

MauveResult mauve(const at::Tensor& p_features, const at::Tensor& q_features, const MauveOptions& o) {
  LMF_REQUIRE(p_features.dim() == 2 && q_features.dim() == 2 && p_features.size(1) == q_features.size(1),
              UserError, "MAUVE: features must be (n, d) with the same d, got ", p_features.sizes(), " and ",
              q_features.sizes());
  const int64_t np = p_features.size(0), nq = q_features.size(0);
  LMF_REQUIRE(np >= 2 && nq >= 2, UserError, "MAUVE needs at least 2 texts on each side, got ", np, " and ", nq);
  LMF_REQUIRE(o.explained_variance > 0 && o.explained_variance < 1, UserError,
              "MAUVE: explained_variance must be in (0, 1)");
  const int64_t k = o.num_buckets > 0 ? o.num_buckets
                                      : std::max<int64_t>(2, std::llround(std::min(np, nq) / 10.0));
  // 1. unit rows, Q first then P (the package's order; it only matters for k-means' seeding).
  at::Tensor x = at::cat({q_features, p_features}).to(at::kDouble);
  x = x / x.norm(2, 1, true).clamp_min(1e-12);
  // 2. PCA by SVD of the centred data; explained variance ratio = s^2 / sum s^2.
  x = x - x.mean(0, true);
  auto [u, s, vh] = at::linalg_svd(x, /*full_matrices=*/false);
  at::Tensor ratio = s.pow(2) / s.pow(2).sum().clamp_min(1e-300);
  at::Tensor cum = ratio.cumsum(0);
  int64_t dims = (cum < o.explained_variance).sum().item<int64_t>() + 1;
  dims = std::min<int64_t>(dims, vh.size(0));
  at::Tensor proj = x.matmul(vh.narrow(0, 0, dims).t());
  // 3-4. clusters and histograms.
  std::vector<int64_t> labels = kmeans_labels(proj, std::min(k, np + nq), o.kmeans_redo, o.kmeans_iters, o.seed);
  std::vector<double> p(k, 0.0), q(k, 0.0);
  for (int64_t i = 0; i < nq; ++i) q[labels[i]] += 1;
  for (int64_t i = 0; i < np; ++i) p[labels[nq + i]] += 1;
  for (int64_t b = 0; b < k; ++b) q[b] /= static_cast<double>(nq), p[b] /= static_cast<double>(np);
  MauveResult r = mauve_from_histograms(p, q, o.curve_points, o.scaling);
  r.pca_dims = dims;
  return r;
}

}  // namespace lmforge::eval
