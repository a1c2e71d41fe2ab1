// The Monarch oracle: the four steps of op.h written with reshape/permute and einsum, so autograd
// differentiates it and nothing is clever. Also the materialised dense matrix and the projection.
#include <ATen/ATen.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/monarch/op.h"

namespace lmforge {

at::Tensor monarch_linear_ref(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& w2, const at::Tensor& bias) {
  const int64_t k = w1.size(0), q = w1.size(1), p = w1.size(2);
  const int64_t l = w2.size(0), s = w2.size(1), r = w2.size(2);
  const int64_t n = x.size(-1);
  LMF_REQUIRE(k * p == n && l * r == k * q, UserError, "monarch: shapes do not chain (x ", x.sizes(), ", w1 ",
              w1.sizes(), ", w2 ", w2.sizes(), ")");
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = l * s;
  at::Tensor x2 = x.reshape({-1, k, p});
  const int64_t b = x2.size(0);
  at::Tensor y1 = at::einsum("bkp,kqp->bkq", {x2, w1});                      // (b, k, q)
  at::Tensor h = y1.reshape({b, r, l}).transpose(1, 2);                      // (b, l, r): X2
  at::Tensor y2 = at::einsum("blr,lsr->bls", {h, w2});                       // (b, l, s)
  at::Tensor y = y2.transpose(1, 2).reshape({b, l * s});                     // index s_i*l + l_i
  if (bias.defined()) y = y + bias;
  return y.reshape(out_shape);
}

at::Tensor monarch_to_dense(const at::Tensor& w1, const at::Tensor& w2) {
  const int64_t n = w1.size(0) * w1.size(2);
  return monarch_linear_ref(at::eye(n, w1.options()), w1, w2).t().contiguous();
}

std::pair<at::Tensor, at::Tensor> monarch_project(const at::Tensor& dense, at::IntArrayRef w1_shape,
                                                  at::IntArrayRef w2_shape) {
  LMF_REQUIRE(w1_shape.size() == 3 && w2_shape.size() == 3, UserError, "monarch_project: factor shapes must be 3-d");
  const int64_t k = w1_shape[0], q = w1_shape[1], p = w1_shape[2];
  const int64_t l = w2_shape[0], s = w2_shape[1], r = w2_shape[2];
  LMF_REQUIRE(l * r == k * q && dense.dim() == 2 && dense.size(0) == l * s && dense.size(1) == k * p, UserError,
              "monarch_project: a (", l * s, ", ", k * p, ") matrix is needed for factors ", w1_shape, " and ",
              w2_shape, ", got ", dense.sizes());
  // Work in float64 (SVD accuracy); rows of M are indexed s_i*l + l_i, columns k_i*p + p_i.
  at::Tensor m4 = dense.to(at::kDouble).reshape({s, l, k, p});
  at::Tensor w1 = at::zeros({k, q, p}, at::kDouble), w2 = at::zeros({l, s, r}, at::kDouble);
  for (int64_t li = 0; li < l; ++li) {
    for (int64_t ki = 0; ki < k; ++ki) {
      std::vector<int64_t> fs;  // middle indices joining block ki of W1 to block li of W2
      for (int64_t j = 0; j < q; ++j)
        if ((ki * q + j) % l == li) fs.push_back(ki * q + j);
      if (fs.empty()) continue;
      at::Tensor blk = m4.select(1, li).select(1, ki);  // (s, p)
      auto [u, sv, vh] = at::linalg_svd(blk, /*full_matrices=*/false);
      const int64_t rank = std::min<int64_t>(static_cast<int64_t>(fs.size()), sv.size(0));
      at::Tensor root = sv.narrow(0, 0, rank).sqrt();
      at::Tensor uu = u.narrow(1, 0, rank) * root;                 // (s, rank)
      at::Tensor vv = vh.narrow(0, 0, rank) * root.unsqueeze(1);   // (rank, p)
      for (int64_t t = 0; t < rank; ++t) {
        const int64_t f = fs[static_cast<size_t>(t)];
        w2[li].select(1, f / l).copy_(uu.select(1, t));
        w1[ki][f - ki * q].copy_(vv[t]);
      }
    }
  }
  return {w1.to(dense.scalar_type()), w2.to(dense.scalar_type())};
}

}  // namespace lmforge
