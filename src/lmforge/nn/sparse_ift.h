// Sparse-IFT (Thangarasa, Saxena, Gupta, Lie, ICML 2024): sparse iso-FLOP transformations of a
// dense layer W (in -> out), one knob, the sparsity s. Every member keeps the FLOPs of W (counting
// non-zeros only; CPU sparse matmuls are emulated densely with masks, so FLOPs, not time, are equal):
//   wide        the feed-forward's hidden width scaled by 1/(1-s), each weight at sparsity s
//               (only d_model-internal widths grow, so the factor is 1/(1-s), not ResNet's sqrt)
//   parallel    W = sum_i W_i over beta = round(1/(1-s)) branches, each at density 1/beta (= 1-s for
//               s in {0.5, 0.75, 0.9}); a linear sum collapses to one matrix, which is also how it runs
//   factorized  W = V sigma(U x), U: in->r, V: r->out, both at sparsity s, r = in*out/((1-s)(in+out))
//   doped       W = Sparse_s(W_s) + V U, dense low rank r = s*in*out/(in+out)
// Masks are static (random, fixed) or dynamic with RigL (Evci et al. 2020, as in cbsparse's rigl.py):
// every `every` steps until `end_step`, drop the fraction f_t = f * (1 + cos(pi t / end_step)) / 2
// of the active weights with the smallest |w|, grow as many inactive ones with the largest dense
// |grad| (new weights start at 0 with zeroed optimizer state); the non-zero count never changes.
// Masked weights are exactly zero: gradients are masked before the update and the mask re-applied
// after it (nn/step_hooks.h).
#pragma once
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "lmforge/nn/step_hooks.h"

namespace lmforge {

struct RiglOptions {
  std::string mode = "static";  // static | rigl
  int64_t every = 100;          // Delta T
  double fraction = 0.3;        // f (drop fraction at t = 0, cosine-decayed)
  int64_t end_step = 0;         // T_end: no mask updates from here on (cbsparse: 0.75 * total steps)
};

// The RigL connectivity update of one tensor (pure, for tests): drops the `k` active positions with
// the smallest |weight|, then grows the `k` positions inactive after the drop with the largest |grad|
// (a just-dropped position may be regrown; it restarts at zero). Returns the new 0/1 mask.
at::Tensor rigl_update_mask(const at::Tensor& weight, const at::Tensor& dense_grad, const at::Tensor& mask, int64_t k);

// The cosine-decayed drop fraction at step t (0 at and after end_step).
double rigl_drop_fraction(const RiglOptions& o, int64_t t);

// A linear layer y = x (sum_b W_b ⊙ M_b)^T + bias [+ x U^T V^T] with `branches` masked weight
// tensors at `density` and an optional dense low-rank term. weight is (out, in) for one branch, else
// (branches, out, in); density 1 registers no mask (then it is exactly Dense, same parameter names).
class SparseIftLinear : public torch::nn::Module, public StepHook {
 public:
  SparseIftLinear(int64_t in, int64_t out, int64_t branches, double density, int64_t lowrank, bool bias, double std,
                  const RiglOptions& rigl);
  at::Tensor forward(const at::Tensor& x) const;
  int64_t nnz() const { return nnz_; }
  // 2 * non-zero multiply-adds per input row (bias excluded, as for Dense).
  double flops_per_row() const;

  void before_optimizer_step(torch::optim::Optimizer& opt) override;
  void after_optimizer_step() override;

  at::Tensor weight, bias, mask, step;  // mask, step: buffers (undefined when dense)
  at::Tensor lowrank_u, lowrank_v;      // (r, in), (out, r); undefined when r = 0

 private:
  RiglOptions rigl_;
  int64_t nnz_ = 0;
};

}  // namespace lmforge
