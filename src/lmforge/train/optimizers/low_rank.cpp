// GaLore's projector; see low_rank.h.
#include "lmforge/train/optimizers/low_rank.h"

#include <algorithm>

#include "lmforge/core/error.h"
#include "lmforge/train/optimizer.h"

namespace lmforge {

LowRankProjector::LowRankProjector(at::IntArrayRef shape, int64_t rank, int64_t gap) {
  LMF_REQUIRE(shape.size() == 2, UserError, "low-rank projection needs a matrix, got shape ", shape);
  LMF_REQUIRE(rank >= 1 && gap >= 1, ConfigError, "low-rank projection: rank and update gap must be >= 1, got ", rank,
              " and ", gap);
  m_ = shape[0], n_ = shape[1];
  rank_ = std::min({rank, m_, n_});
  gap_ = gap;
  right_ = m_ >= n_;
}

at::Tensor LowRankProjector::project(const at::Tensor& G, int64_t t) {
  at::Tensor g = G.to(at::kFloat);
  if (!P_.defined() || (t - 1) % gap_ == 0) {
    // Thin SVD in fp32 (LAPACK's gesdd): only the r leading singular vectors are kept.
    auto [U, S, Vh] = at::linalg_svd(g, /*full_matrices=*/false);
    P_ = right_ ? Vh.narrow(0, 0, rank_).contiguous() : U.narrow(1, 0, rank_).contiguous();
  }
  return right_ ? at::matmul(g, P_.t()) : at::matmul(P_.t(), g);
}

at::Tensor LowRankProjector::project_back(const at::Tensor& N) const {
  return right_ ? at::matmul(N, P_) : at::matmul(P_, N);
}

std::vector<int64_t> LowRankProjector::low_rank_shape() const {
  return right_ ? std::vector<int64_t>{m_, rank_} : std::vector<int64_t>{rank_, n_};
}

void LowRankProjector::save(torch::serialize::OutputArchive& a, const std::string& prefix) const {
  a.write(prefix + "P", P_.defined() ? P_ : at::empty({0}), true);
}

void LowRankProjector::load(torch::serialize::InputArchive& a, const std::string& prefix) {
  at::Tensor p;  // empty until the first refresh; the shape is checked here, naming the rank
  read_optimizer_state(a, prefix + "P", p);
  if (p.numel() == 0) {
    P_ = at::Tensor();
    return;
  }
  const std::vector<int64_t> want = right_ ? std::vector<int64_t>{rank_, n_} : std::vector<int64_t>{m_, rank_};
  LMF_REQUIRE(p.sizes().vec() == want, InputError, "optimizer state '", prefix, "P' has shape ", p.sizes(),
              ", this run's projector is ", at::IntArrayRef(want), " (another rank?)");
  P_ = p;
}

}  // namespace lmforge
