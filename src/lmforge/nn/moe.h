// Sparse mixture-of-experts feed-forward (Shazeer et al. 2017; Switch Transformer, Fedus et al. 2022)
// and MomentumSMoE (Teo & Nguyen, NeurIPS 2024).
//
// SMoE: gate logits g = W_g x + b; top-k experts by logit; weights = softmax over the k selected
// logits; expert_e(x) = W2_e act(W1_e x + b1_e) + b2_e; f(x) = sum_top-k w_e expert_e(x).
// Load balancing (Switch): balance_weight * E * sum_e frac_e * meanprob_e (frac_e: share of the
// token->expert assignments that go to e; meanprob_e: mean full-softmax probability), added to
// ForwardContext::aux_losses in training; = balance_weight for perfectly uniform probabilities.
// Capacity: each expert takes at most ceil(capacity_factor * T * k / E) assignments, earlier tokens
// first; a dropped assignment contributes 0 (the residual carries the token). capacity_factor 0 = no limit.
// Dispatch: the T*k assignments are sorted by expert, gathered once, each expert runs one GEMM pair on
// its contiguous slice, and the weighted outputs are index-added back: no expert touches other tokens.
//
// MomentumSMoE reads the SMoE layer as a gradient step h <- h + f(h) and adds momentum across layers
// (depth plays the role of time); the state p is carried through ForwardContext::carry and reset at
// each forward (a state written by a layer at or after this one is stale):
//   heavy_ball: p_l = mu p_{l-1} + gamma f_l(x);                  output p_l    (mu = 0, gamma = 1: SMoE)
//   adam:       first momentum layer: m = (1-b1) f, v = (1-b2) f^2, output adam_gamma m / sqrt(v + eps),
//               and p = gamma f; later layers heavy_ball (as in the paper's code, models.py FFAdam).
//   robust:     Cyrus et al. 2018 robust momentum with (alpha, beta, lookahead) from (rho, kappa), L = 1:
//               alpha = kappa (1-rho)^2 (1+rho), beta = kappa rho^3 / (kappa-1),
//               lookahead = rho^3 / ((kappa-1)(1-rho)^2(1+rho));
//               p_l = beta p_{l-1} + alpha f_l(x + lookahead p_{l-1}); output p_l.
// The block adds the output to the residual stream, so h_{l+1} = h_l + p_l. Sign: the paper writes
// h - p with f a gradient; here f is the update direction (the sign lives in the expert weights).
// Differences from the paper's code: our blocks are pre-norm (x = norm(h)); its post-norm path wraps
// the MoE in two LayerNorms (LN_b(h + LN_a(h - p))), ours with norm_position = "post" is LN(h + p).
#pragma once
#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"

namespace lmforge {

struct MoeOptions {
  int64_t n_experts = 8;
  int64_t top_k = 2;
  double mult = 4.0;
  int64_t hidden = 0;
  std::string activation = "relu";
  bool bias = true;
  double capacity_factor = 1.25;
  double balance_weight = 0.01;
  std::string momentum = "none";
  double mu = 0.7, gamma = 1.0;
  double beta1 = 0.9, beta2 = 0.999, adam_gamma = 1.0, adam_eps = 1e-8;
  double rho = 0.5, kappa = 2.0;
  template <class V>
  void visit(V& v) {
    v("n_experts", n_experts, "number of experts E");
    v("top_k", top_k, "experts per token");
    v("mult", mult, "hidden width of one expert as a multiple of d_model");
    v("hidden", hidden, "hidden width of one expert; 0 = mult * d_model");
    v("activation", activation, "gelu | gelu_tanh | relu | silu");
    v("bias", bias, "biases in the experts");
    v("capacity_factor", capacity_factor, "assignments per expert <= ceil(cf * tokens * top_k / E); 0 = no limit");
    v("balance_weight", balance_weight, "weight of the Switch load-balancing loss (aux loss); 0 = off");
    v("momentum", momentum, "none | heavy_ball | adam | robust (MomentumSMoE, carried across layers)");
    v("mu", mu, "heavy-ball momentum");
    v("gamma", gamma, "step size on the expert output (heavy_ball, adam's later layers)");
    v("beta1", beta1, "adam: first-moment decay");
    v("beta2", beta2, "adam: second-moment decay");
    v("adam_gamma", adam_gamma, "adam: step size of the first momentum layer");
    v("adam_eps", adam_eps, "adam: epsilon under the square root");
    v("rho", rho, "robust momentum: robustness rho in (0, 1)");
    v("kappa", kappa, "robust momentum: condition number kappa > 1");
  }
};

class MoeFfn : public FeedForward {
 public:
  MoeFfn(const MoeOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  double flops_per_token() const override;

  // The plain SMoE output f(x) (B, L, D); adds the balance loss when training.
  at::Tensor smoe(const at::Tensor& x, ForwardContext& ctx);

  std::shared_ptr<Dense> gate;
  at::Tensor w1, b1, w2, b2;  // (E, H, D), (E, H), (E, D, H), (E, D)

 private:
  MoeOptions opt_;
  LayerContext lc_;
  int64_t h_;
};

}  // namespace lmforge
