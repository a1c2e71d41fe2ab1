// GradNormLoRP (Huang et al., AAAI 2025, "Gradient Weight-normalized Low-rank Projection for
// Efficient LLM Training"): each targeted matrix W (m x n) is trained in weight-normalised form,
// row i as W_i = g_i v_i / |v_i|, with the direction's gradient projected to low rank as GaLore
// does (low_rank.h). Given G = dL/dW, row-wise with u_i = v_i / |v_i|:
//   dL/dg_i = <G_i, u_i>
//   dL/dv_i = (g_i / |v_i|) (G_i - <G_i, u_i> u_i)     (exact: the tangent projection)
//   dL/dv_i = (g_i / |v_i|) G_i                          (exact_tangent = false: the reference code)
// Step: R = project(dL/dv); v <- (1 - lr wd) v - lr scale project_back(Adam(R));
//       g <- (1 - lr wd) g - lr Adam(dL/dg);  W <- g v / |v|.
// State per matrix: v (a full fp32 copy of W, as the reference keeps), g (m), the projector and
// the low-rank moments, and g's moments.
#pragma once
#include <utility>

#include <ATen/ATen.h>

namespace lmforge {

// (dL/dv, dL/dg) from G = dL/dW for W = g v / |v| (row norms, g of shape (m)).
std::pair<at::Tensor, at::Tensor> weight_norm_grads(const at::Tensor& G, const at::Tensor& v, const at::Tensor& g,
                                                    bool exact_tangent);

}  // namespace lmforge
