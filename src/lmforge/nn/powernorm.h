// PowerNorm (Shen, Yao, Gholami, Mahoney, Keutzer, ICML 2020) and a masked BatchNorm baseline.
//
// PowerNorm, per channel c, over the real (non-padding) tokens of the batch:
//   GroupScaling (optional): per token, x <- x / sqrt(mean_group(x^2) + 1e-5) over G channel groups.
//   psi2_B[c] = mean_t x[t,c]^2                      (quadratic mean; no mean subtraction)
//   forward:  z = x / sqrt(psi2 + eps), psi2 = psi2_B during the warm-up, the running psi2_run after
//   running:  warm-up: cumulative average of psi2_B; every step: psi2_run <- a_f psi2_run + (1-a_f) psi2_B
//   backward (approximate, with the running statistic Gamma of mean(g z)):
//             g~ = dz - (1 - a_b) Gamma z;  dx = g~ / sqrt(psi2_B + eps);  Gamma += mean_t(g~ z)
//   y = weight * z + bias;  eval: z = x / sqrt(psi2_run + eps).
// exact = true: the forward uses the batch statistic always and the backward is the true gradient
//   (Gamma = this batch's mean(dz z) over real tokens, a_b = 0; padding rows get no correction), so it
//   equals autograd of x / sqrt(mean_B x^2 + eps) (the paper's sanity check; tests compare it with
//   float64 finite differences).
// The warm-up counts training forwards (micro-batches) of this layer.
//
// BatchNorm (Ioffe & Szegedy 2015) over the real tokens: z = (x - mean_B) / sqrt(var_B + eps) in
// training (gradient through the statistics), running mean/var (momentum 0.1) in eval.
#pragma once
#include "lmforge/nn/components.h"

namespace lmforge {

struct PowerNormOptions {
  double eps = 1e-5;
  double alpha_fwd = 0.9;
  double alpha_bwd = 0.9;
  int64_t warmup = 1000;
  bool group_scaling = true;
  int64_t groups = 1;
  bool exact = false;
  bool bias = true;
  template <class V>
  void visit(V& v) {
    v("eps", eps, "added to the quadratic mean");
    v("alpha_fwd", alpha_fwd, "EMA factor of the running quadratic mean");
    v("alpha_bwd", alpha_bwd, "EMA factor of the backward statistic Gamma");
    v("warmup", warmup, "training forwards that normalise with the batch statistic");
    v("group_scaling", group_scaling, "per-token RMS scaling over channel groups before the norm");
    v("groups", groups, "channel groups of the group scaling (the paper uses the number of heads)");
    v("exact", exact, "batch statistic always and the exact gradient (for checks)");
    v("bias", bias, "learned shift");
  }
};

class PowerNorm : public Norm {
 public:
  PowerNorm(const PowerNormOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  at::Tensor weight, bias;
  at::Tensor running_phi, ema_gz, iters;  // (C), (C), scalar long

 private:
  PowerNormOptions opt_;
};

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  template <class V>
  void visit(V& v) {
    v("eps", eps, "added to the variance");
    v("momentum", momentum, "running statistics <- (1 - momentum) running + momentum batch");
  }
};

class MaskedBatchNorm : public Norm {
 public:
  MaskedBatchNorm(const BatchNormOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  at::Tensor weight, bias, running_mean, running_var;

 private:
  BatchNormOptions opt_;
};

}  // namespace lmforge
