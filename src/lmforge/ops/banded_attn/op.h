// Banded (grouped, windowed) softmax attention: the core of local heads and of routing heads.
//
//   y_i = sum_j p_ij v_j,  p_i = softmax_j(q_i . k_j / sqrt(d))  over the visible keys j:
//   visible(i, j) = valid_j  and  group_i == group_j  and  (causal ? 0 <= i - j < w : |i - j| < w)
//
// Local attention (Child et al. 2019; the Routing Transformer's local heads) is the case without
// groups. Routing attention (Roy et al. 2021) sorts the tokens by (cluster, position), so that the
// members of a cluster are contiguous and in order; a band of width w over the sorted sequence with
// the cluster as the group is then "each token attends to the previous w members of its cluster".
// The fast path works on blocks of w rows: block b attends to blocks b-1 and b (and b+1 when not
// causal), so the cost is O(L w d) instead of O(L^2 d); the oracle (ref.cpp) builds the L x L mask.
// Rows that see no key (padded queries) output 0.
#pragma once
#include <ATen/ATen.h>

namespace lmforge {

// q, k: (N, L, d); v: (N, L, dv); group: (N, L) int64 or undefined; valid: (N, L) bool or undefined.
// window <= 0 or >= L means unbounded. Returns (N, L, dv). Differentiable.
at::Tensor banded_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& group,
                            const at::Tensor& valid, int64_t window, bool causal);
at::Tensor banded_attention_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& group, const at::Tensor& valid, int64_t window, bool causal);

}  // namespace lmforge
