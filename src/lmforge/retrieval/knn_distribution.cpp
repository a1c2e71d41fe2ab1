#include "lmforge/retrieval/knn_distribution.h"

#include <cmath>
#include <limits>

#include "lmforge/core/error.h"

namespace lmforge::retrieval {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Scores -d/T, shifted by their row maximum (so the nearest neighbour scores 0 and nothing large
// is ever subtracted from something large: d can be in the thousands while log p needs 1e-6),
// missing neighbours (value < 0) at -inf, and the shifted row-wise logsumexp.
std::pair<at::Tensor, at::Tensor> shifted_scores(const at::Tensor& dists, const at::Tensor& vals, double temperature) {
  LMF_REQUIRE(temperature > 0, UserError, "kNN temperature must be > 0, got ", temperature);
  LMF_REQUIRE(dists.dim() == 2 && dists.sizes() == vals.sizes(), UserError,
              "kNN: distances and values must both be (queries, k)");
  at::Tensor s = dists.to(at::kFloat).neg().div(temperature).masked_fill(vals < 0, kNegInf);
  at::Tensor m = std::get<0>(s.max(1, /*keepdim=*/true));
  s = s - m.masked_fill(m == kNegInf, 0);  // a row without neighbours stays all -inf
  return {s, s.logsumexp(1, /*keepdim=*/true)};
}

}  // namespace

at::Tensor knn_log_probs(const at::Tensor& dists, const at::Tensor& vals, int64_t vocab, double temperature) {
  auto [s, norm] = shifted_scores(dists, vals, temperature);
  // logsumexp per (row, token): exp of the shifted scores (<= 1) summed into the token's slot.
  at::Tensor idx = vals.clamp_min(0).to(at::kLong);
  at::Tensor agg = at::zeros({s.size(0), vocab}, s.options()).scatter_add_(1, idx, s.exp());
  return agg.log() - norm;
}

at::Tensor knn_target_log_probs(const at::Tensor& dists, const at::Tensor& vals, const at::Tensor& targets,
                                double temperature) {
  auto [s, norm] = shifted_scores(dists, vals, temperature);
  at::Tensor hit = vals == targets.view({-1, 1}).to(vals.scalar_type());
  return s.masked_fill(hit.logical_not(), kNegInf).logsumexp(1) - norm.squeeze(1);
}

at::Tensor interpolate_log_probs(const at::Tensor& log_p_lm, const at::Tensor& log_p_knn, double lambda) {
  LMF_REQUIRE(lambda >= 0 && lambda <= 1, UserError, "kNN lambda must be in [0, 1], got ", lambda);
  // log(0) = -inf on either side: lambda 0 returns log_p_lm exactly, lambda 1 log_p_knn.
  return at::logaddexp(log_p_lm + std::log1p(-lambda), log_p_knn + std::log(lambda));
}

at::Tensor entropy_of_log_probs(const at::Tensor& log_p) {
  at::Tensor lp = log_p.to(at::kFloat);
  at::Tensor terms = lp.exp() * lp;
  return terms.masked_fill(lp == kNegInf, 0).sum(-1).neg();
}

}  // namespace lmforge::retrieval
