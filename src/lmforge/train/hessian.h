// Curvature from Hessian-vector products, for second-order optimisers (AdaHessian) and for
// anything else that needs H v (issue 17 reuses hessian_vector_product).
//
//   H v = d/dtheta (g . v),  g = dL/dtheta computed with create_graph (Pearlmutter 1994)
//   Hutchinson (1990): for a Rademacher probe z (entries +-1), E[z * (H z)] = diag(H).
//
// AdaHessian (Yao et al., AAAI 2021) uses D = |z * Hz| = |Hz| and averages D over small blocks
// of each weight (block_average) to reduce the estimator's variance.
//
// The training step (train/step.cpp) recognises a CurvatureOptimizer: on the steps it asks for,
// every micro-batch's gradient is taken with create_graph, the product with the SAME probes is
// accumulated over the micro-batches (so it is H z of the step's mean loss), all inside a
// SecondOrderScope (ops/second_order.h: fused operators take their twice-differentiable
// reference paths), and handed to the optimiser before step().
#pragma once
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

namespace lmforge {

class CurvatureOptimizer : public torch::optim::Optimizer {
 public:
  using torch::optim::Optimizer::Optimizer;
  // Whether the step about to run (0-based global step) needs a fresh Hessian-vector product.
  virtual bool wants_hessian(int64_t step) const = 0;
  // H z for curvature_params() (same order; undefined where a parameter had no gradient), and
  // the probe z it was taken with. Called before step() on the steps that wanted it.
  virtual void set_hessian_vector_products(std::vector<at::Tensor> hz, std::vector<at::Tensor> z) = 0;
  // Every group's parameters, groups in order: the order of the products.
  std::vector<at::Tensor> curvature_params() const;
};

// One Rademacher tensor per parameter (entries +-1, the parameter's dtype and device), a pure
// function of (seed, step): a resumed run draws the same probes, and so would every rank.
std::vector<at::Tensor> rademacher_probes(const std::vector<at::Tensor>& like, uint64_t seed, int64_t step);

// H v = d(sum_i grads[i] . v[i]) / d params. grads must have been computed with create_graph
// from params; an undefined grads[i] (parameter unused) contributes nothing. Undefined where the
// product does not reach a parameter. The graph of grads is freed unless retain_graph.
std::vector<at::Tensor> hessian_vector_product(const std::vector<at::Tensor>& grads,
                                               const std::vector<at::Tensor>& params,
                                               const std::vector<at::Tensor>& v, bool retain_graph = false);

// One micro-batch of a second-order step: g = d loss / d params with create_graph, adds g to
// each parameter's .grad and H z to hz (hz[i] undefined until first reached). A gradient that
// autograd cannot differentiate again is a UserError naming the parameter (from `model`).
void accumulate_gradient_and_hvp(const at::Tensor& loss, const std::vector<at::Tensor>& params,
                                 const std::vector<at::Tensor>& z, std::vector<at::Tensor>& hz,
                                 const torch::nn::Module& model);

// AdaHessian's spatial averaging of d (already |Hz|), by the tensor's rank:
//   1-D (biases, norms): unchanged.
//   2-D (linear, embedding): row-major blocks of `block` consecutive entries each replaced by
//     their mean (a shorter tail block by its own mean); block 0 = the mean of each whole row.
//   3-D (conv1d): mean over the last dim. 4-D and up: mean over the last two dims.
at::Tensor block_average(const at::Tensor& d, int64_t block);

}  // namespace lmforge
