#include "lmforge/nn/monarch_linear.h"

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/ops/monarch/op.h"

namespace lmforge {

MonarchLinear::MonarchLinear(int64_t in, int64_t out, int64_t nb, bool with_bias, double std) : in_(in), out_(out) {
  LMF_REQUIRE(nb >= 1 && nb <= std::min(in, out), ConfigError, "monarch: nblocks = ", nb,
              " must be between 1 and min(in, out) = ", std::min(in, out));
  const int64_t ib = (in + nb - 1) / nb, ob = (out + nb - 1) / nb;
  const int64_t mid = in <= out ? ib : ob;
  blkdiag1 = register_parameter("blkdiag1", at::empty({nb, mid, ib}));
  blkdiag2 = register_parameter("blkdiag2", at::empty({nb, ob, mid}));
  torch::NoGradGuard g;
  blkdiag1.uniform_(-1.0 / std::sqrt(ib), 1.0 / std::sqrt(ib));  // variance 1 / (3 ib)
  // M[i, j] sums `rank` = mid/nb products (at least 1): Var = rank * Var(W1) * Var(W2) = std^2.
  const double rank = std::max<double>(1.0, static_cast<double>(mid) / nb);
  blkdiag2.normal_(0.0, std * std::sqrt(3.0 * ib / rank));
  if (with_bias) bias = register_parameter("bias", at::zeros({out}));
}

at::Tensor MonarchLinear::forward(const at::Tensor& x) const {
  const int64_t in_pad = blkdiag1.size(0) * blkdiag1.size(2);
  const int64_t out_pad = blkdiag2.size(0) * blkdiag2.size(1);
  at::Tensor xp = in_pad == in_ ? x : at::constant_pad_nd(x, {0, in_pad - in_});
  if (out_pad == out_) return monarch_linear(xp, blkdiag1, blkdiag2, bias);
  at::Tensor y = monarch_linear(xp, blkdiag1, blkdiag2).narrow(-1, 0, out_);
  return bias.defined() ? y + bias : y;
}

at::Tensor MonarchLinear::to_dense() const {
  torch::NoGradGuard g;
  return monarch_to_dense(blkdiag1.detach(), blkdiag2.detach()).narrow(0, 0, out_).narrow(1, 0, in_).contiguous();
}

double MonarchLinear::set_from_dense(const at::Tensor& weight) {
  LMF_REQUIRE(weight.dim() == 2 && weight.size(0) == out_ && weight.size(1) == in_, InputError,
              "monarch: a dense weight of shape (", out_, ", ", in_, ") is needed, got ", weight.sizes());
  torch::NoGradGuard g;
  const int64_t in_pad = blkdiag1.size(0) * blkdiag1.size(2);
  const int64_t out_pad = blkdiag2.size(0) * blkdiag2.size(1);
  at::Tensor w = at::constant_pad_nd(weight.detach().to(at::kDouble), {0, in_pad - in_, 0, out_pad - out_});
  auto [w1, w2] = monarch_project(w, blkdiag1.sizes(), blkdiag2.sizes());
  blkdiag1.copy_(w1);
  blkdiag2.copy_(w2);
  at::Tensor m = monarch_to_dense(w1, w2).narrow(0, 0, out_).narrow(1, 0, in_);
  const double denom = weight.to(at::kDouble).norm().item<double>();
  return denom > 0 ? (m - weight.to(at::kDouble)).norm().item<double>() / denom : 0.0;
}

}  // namespace lmforge
