// moe_route: sort the token->expert assignments by expert and apply padding and capacity (op.h).
// A stable order by (expert, assignment id) is one sort of the key expert*A + a.
#include <cmath>

#include <torch/csrc/autograd/grad_mode.h>

#include "lmforge/ops/moe_dispatch/op.h"

namespace lmforge {

MoeRoute moe_route(const at::Tensor& top_i, int64_t E, double capacity_factor, const at::Tensor& valid) {
  torch::NoGradGuard ng;
  const int64_t T = top_i.size(0), K = top_i.size(1), A = T * K;
  auto lo = at::TensorOptions().dtype(at::kLong).device(top_i.device());
  at::Tensor expert = top_i.reshape({A}).to(at::kLong);
  at::Tensor key = expert * A + at::arange(A, lo);
  auto [sorted_key, order] = key.sort();
  at::Tensor e_sorted = at::floor_divide(sorted_key, A);
  if (valid.defined()) {  // padding takes no expert capacity
    at::Tensor keep = valid.reshape({T}).index_select(0, at::floor_divide(order, K));
    order = order.index({keep});
    e_sorted = e_sorted.index({keep});
  }
  at::Tensor counts = at::bincount(e_sorted, {}, E);
  if (capacity_factor > 0) {
    const int64_t cap = static_cast<int64_t>(std::ceil(capacity_factor * A / E));
    at::Tensor start = at::cumsum(counts, 0) - counts;
    at::Tensor rank = at::arange(order.size(0), lo) - start.index_select(0, e_sorted);
    order = order.index({rank < cap});
    counts = counts.clamp_max(cap);
  }
  counts = counts.cpu().contiguous();
  return {order, std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + E)};
}

}  // namespace lmforge
