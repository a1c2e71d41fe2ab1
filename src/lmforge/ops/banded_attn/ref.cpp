// The oracle of banded_attention (op.h): the full L x L score matrix with the visibility mask.
#include <cmath>

#include "lmforge/ops/banded_attn/op.h"

namespace lmforge {

at::Tensor banded_attention_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& group, const at::Tensor& valid, int64_t window, bool causal) {
  const int64_t N = q.size(0), L = q.size(1);
  auto lo = at::TensorOptions().dtype(at::kLong).device(q.device());
  at::Tensor i = at::arange(L, lo).view({L, 1}), j = at::arange(L, lo).view({1, L});
  at::Tensor vis = at::ones({L, L}, lo.dtype(at::kBool));
  if (causal) vis = vis & (j <= i);
  if (window > 0 && window < L) vis = vis & ((i - j).abs() < window);
  vis = vis.view({1, L, L}).expand({N, L, L});
  if (group.defined()) vis = vis & (group.view({N, L, 1}) == group.view({N, 1, L}));
  if (valid.defined()) vis = vis & valid.view({N, 1, L});
  at::Tensor s = at::matmul(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(q.size(2)));
  at::Tensor p = at::softmax(s.masked_fill(vis.logical_not(), -1e30), -1) * vis.to(s.scalar_type());
  return at::matmul(p, v);
}

}  // namespace lmforge
