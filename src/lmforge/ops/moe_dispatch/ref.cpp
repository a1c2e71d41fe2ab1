// The moe_dispatch oracle: the composition nn/moe.cpp used before the operator existed. Gather the
// routed rows, one linear pair per expert on its contiguous slice, cat, multiply by the combine
// weights, scatter_add back to the tokens; autograd differentiates it.
// gather / scatter_add rather than index_select / index_add: on LibTorch 1.13 CPU, index_add (also
// index_select's backward) loops over the rows one tensor op at a time.
#include "lmforge/ops/moe_dispatch/op.h"

#include "lmforge/ops/activation.h"

namespace lmforge {

at::Tensor moe_dispatch_ref(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& order,
                            at::IntArrayRef counts, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                            const at::Tensor& b2, const std::string& act) {
  const int64_t T = x.size(0), D = x.size(1), K = weight.size(1), E = w1.size(0);
  at::Tensor tok = at::floor_divide(order, K);
  at::Tensor rows = tok.unsqueeze(1).expand({tok.size(0), D});
  at::Tensor xs = x.gather(0, rows);
  std::vector<at::Tensor> parts = xs.split_with_sizes(counts, 0), outs;
  std::vector<at::Tensor> W1 = w1.unbind(0), W2 = w2.unbind(0), B1, B2;
  if (b1.defined()) B1 = b1.unbind(0);
  if (b2.defined()) B2 = b2.unbind(0);
  for (int64_t e = 0; e < E; ++e) {
    if (counts[e] == 0) continue;
    at::Tensor hdn = activation(at::linear(parts[e], W1[e], B1.empty() ? at::Tensor() : B1[e]), act);
    outs.push_back(at::linear(hdn, W2[e], B2.empty() ? at::Tensor() : B2[e]));
  }
  at::Tensor y = at::zeros({T, D}, outs.empty() ? x.options() : outs[0].options());
  if (outs.empty()) return y;
  at::Tensor g = weight.reshape({-1}).gather(0, order).unsqueeze(1).to(outs[0].scalar_type());
  return y.scatter_add(0, rows, at::cat(outs, 0) * g);
}

}  // namespace lmforge
