// The expert half of a sparse mixture-of-experts layer (Shazeer et al. 2017; Switch Transformer):
// given the routing (which token goes to which expert, with which combine weight), run the experts
// on their own tokens only and combine:
//   y[t] = sum_{kept assignments a = (t, slot) of token t} weight[t, slot] * expert_e(a)(x[t])
//   expert_e(x) = W2_e act(W1_e x + b1_e) + b2_e
// The routing is given as `order`: the kept assignment ids a = t*top_k + slot, sorted by expert
// (expert e owns the next counts[e] entries); a dropped assignment (capacity, padding) is simply
// absent and contributes 0. Gate, top-k, sort and capacity stay in nn/moe.cpp.
//
// Why an operator: the plain composition (ref.cpp: gather rows, per-expert linear pairs, cat, weight
// multiply, scatter_add) copies every routed row several times forward and backward and records ~6E
// autograd nodes; the fast path (op.cpp) writes each expert's GEMMs into slices of one buffer, fuses
// gather, weighting and combine into single passes over the rows and has a hand-written backward.
#pragma once
#include <string>

#include <ATen/ATen.h>

namespace lmforge {

// The routing of T tokens with top-k expert ids top_i (T, K): `order` lists the kept assignment ids
// a = t*K + slot sorted by expert (ties by assignment order, i.e. by token), `counts` the rows of
// each of the E experts. Padding (valid[t] false; `valid` may be undefined) takes no capacity and is
// dropped; capacity_factor > 0 keeps at most ceil(cf * T*K / E) assignments per expert, earlier
// tokens first. Not differentiable (indices only).
struct MoeRoute {
  at::Tensor order;             // (N) int64
  std::vector<int64_t> counts;  // E entries, sum N
};
MoeRoute moe_route(const at::Tensor& top_i, int64_t n_experts, double capacity_factor, const at::Tensor& valid);

// x: (T, D); weight: (T, top_k) combine weights (differentiable); order: (N) int64 as above;
// counts: E entries summing to N; w1 (E, H, D), b1 (E, H) or undefined, w2 (E, D, H), b2 (E, D) or
// undefined; act: gelu | gelu_tanh | relu | silu. Returns y (T, D). Differentiable in x, weight,
// w1, b1, w2, b2. Under CPU/CUDA autocast the float inputs are cast to the autocast dtype (as the
// linear layers of the composition would be). Isa::ref runs the oracle.
at::Tensor moe_dispatch(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& order,
                        at::IntArrayRef counts, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                        const at::Tensor& b2, const std::string& act);

// The oracle: the plain ATen composition (differentiable by autograd).
at::Tensor moe_dispatch_ref(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& order,
                            at::IntArrayRef counts, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                            const at::Tensor& b2, const std::string& act);

}  // namespace lmforge
