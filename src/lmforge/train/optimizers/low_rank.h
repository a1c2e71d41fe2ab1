// GaLore's gradient projector (Zhao et al. 2024, "GaLore: Memory-Efficient LLM Training by
// Gradient Low-Rank Projection"), for one m x n matrix:
//   every `gap` steps (and at the first): G = U S V^T in fp32;
//     m >= n: P = first r rows of V^T (r x n),  R = G P^T  (m x r),  back: N P  (m x n)
//     m <  n: P = first r columns of U (m x r), R = P^T G (r x n),  back: P N  (m x n)
//   so the optimiser state lives on R's shape, r x max(m, n) instead of m x n.
// The side is chosen so that R keeps the longer dimension and P is the smaller factor. Between
// refreshes P is fixed; as in the paper, moments are neither reset nor rotated on a refresh.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <torch/serialize/archive.h>

namespace lmforge {

class LowRankProjector {
 public:
  // rank is clipped to min(m, n).
  LowRankProjector(at::IntArrayRef shape, int64_t rank, int64_t gap);
  // R for gradient G at step t (1-based), refreshing P from G's SVD when (t - 1) % gap == 0.
  at::Tensor project(const at::Tensor& G, int64_t t);
  // The m x n matrix of a low-rank N (R's shape).
  at::Tensor project_back(const at::Tensor& N) const;
  std::vector<int64_t> low_rank_shape() const;  // R's shape
  int64_t rank() const { return rank_; }
  int64_t bytes() const { return P_.defined() ? P_.numel() * 4 : 0; }
  const at::Tensor& basis() const { return P_; }
  void save(torch::serialize::OutputArchive& a, const std::string& prefix) const;
  void load(torch::serialize::InputArchive& a, const std::string& prefix);

 private:
  int64_t m_, n_, rank_, gap_;
  bool right_;  // m >= n: P multiplies from the right
  at::Tensor P_;
};

}  // namespace lmforge
