// Blocked banded attention (see op.h). Plain ATen, differentiable by autograd: the speed comes from
// the algorithm (O(L w) scores instead of O(L^2)), the block layout keeps every product a batched GEMM.
#include <cmath>

#include "lmforge/ops/banded_attn/op.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"

namespace lmforge {

namespace {

// (N, L, ...) -> (N, nb, w, ...) after padding L up to nb * w with `fill`.
at::Tensor blocks(const at::Tensor& x, int64_t nb, int64_t w, double fill) {
  const int64_t L = x.size(1);
  at::Tensor y = x;
  if (nb * w > L) {
    std::vector<int64_t> shape = x.sizes().vec();
    shape[1] = nb * w - L;
    y = at::cat({x, at::full(shape, fill, x.options())}, 1);
  }
  std::vector<int64_t> shape = y.sizes().vec();
  shape[1] = w;
  shape.insert(shape.begin() + 1, nb);
  return y.reshape(shape);
}

// Keys of block b: blocks b-1, b (and b+1 when not causal), concatenated along the window axis.
at::Tensor neighbours(const at::Tensor& xb, bool causal, double fill) {
  std::vector<int64_t> shape = xb.sizes().vec();
  shape[1] = 1;
  at::Tensor pad = at::full(shape, fill, xb.options());
  const int64_t nb = xb.size(1);
  at::Tensor ext = at::cat(causal ? std::vector<at::Tensor>{pad, xb} : std::vector<at::Tensor>{pad, xb, pad}, 1);
  std::vector<at::Tensor> parts = {ext.narrow(1, 0, nb), ext.narrow(1, 1, nb)};
  if (!causal) parts.push_back(ext.narrow(1, 2, nb));
  return at::cat(parts, 2);
}

}  // namespace

at::Tensor banded_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& group,
                            const at::Tensor& valid, int64_t window, bool causal) {
  const int64_t N = q.size(0), L = q.size(1), d = q.size(2), dv = v.size(2);
  if (active_isa() == Isa::ref || window <= 0 || window >= L || L <= 2 * window)
    return banded_attention_ref(q, k, v, group, valid, window, causal);
  const int64_t w = window, nb = (L + w - 1) / w, span = causal ? 2 : 3;
  auto lo = at::TensorOptions().dtype(at::kLong).device(q.device());
  // Static band: query row r of a block, key column c of the neighbourhood; offset = (b-1)*w.
  at::Tensor r = at::arange(w, lo).view({w, 1}), c = at::arange(span * w, lo).view({1, span * w});
  at::Tensor diff = r + w - c;  // query index - key index
  at::Tensor band = causal ? ((diff >= 0) & (diff < w)) : (diff.abs() < w);
  // Keys outside [0, L) (the padding blocks) are invisible: a position tensor with -1 there.
  at::Tensor pos = neighbours(blocks(at::arange(L, lo).view({1, L}), nb, w, -1), causal, -1);  // (1, nb, span*w)
  at::Tensor vis = band.view({1, 1, w, span * w}) & (pos >= 0).view({1, nb, 1, span * w});
  if (group.defined()) {
    at::Tensor gq = blocks(group, nb, w, -2), gk = neighbours(gq, causal, -3);
    vis = vis & (gq.unsqueeze(3) == gk.unsqueeze(2));
  }
  if (valid.defined()) vis = vis & neighbours(blocks(valid, nb, w, 0), causal, 0).unsqueeze(2);
  at::Tensor qb = blocks(q, nb, w, 0) * (1.0 / std::sqrt(static_cast<double>(d)));
  at::Tensor kb = neighbours(blocks(k, nb, w, 0), causal, 0), vb = neighbours(blocks(v, nb, w, 0), causal, 0);
  at::Tensor s = at::matmul(qb, kb.transpose(-2, -1)).masked_fill(vis.logical_not(), -1e30);  // (N, nb, w, span*w)
  at::Tensor p = at::softmax(s, -1);
  // Without padding every real query sees at least itself; with it a padded query may see nothing.
  if (valid.defined()) p = p * vis.to(p.scalar_type());
  return at::matmul(p, vb).reshape({N, nb * w, dv}).narrow(1, 0, L);
}

static const bool kInfo = register_kernel_info("banded_attn", [](at::ScalarType, Isa isa) -> std::string {
  return isa == Isa::ref ? "aten (L x L mask)" : "aten blocks of w rows (band of 2-3 blocks)";
});

}  // namespace lmforge
