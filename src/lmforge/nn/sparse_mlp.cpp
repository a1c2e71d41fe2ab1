// sparse_mlp: the `mlp` feed-forward under a Sparse-IFT transformation (nn/sparse_ift.h) at sparsity
// s, FLOP-matched to the dense mlp of the same mult (non-zero FLOPs within rounding: the tests
// hold each member within 1%):
//   wide        fc1: d -> h/(1-s), fc2: h/(1-s) -> d, both masked at s
//   parallel    fc1, fc2 each a sum of round(1/(1-s)) masked branches
//   factorized  fc = V sigma(U x), r = in*out/((1-s)(in+out)), U and V masked at s
//                (sigma: factor_activation, the paper's BN+ReLU without the BN)
//   doped       fc = masked W_s + dense V U, r = s*in*out/(in+out)
// At s = 0, wide, parallel and doped are exactly the dense mlp (same parameter names).
#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/nn/components.h"
#include "lmforge/nn/sparse_ift.h"
#include "lmforge/ops/activation.h"

namespace lmforge {


namespace {

struct SparseMlpOptions {
  std::string transform = "wide";
  double sparsity = 0.5;
  std::string mask = "static";
  int64_t rigl_every = 100;
  double rigl_fraction = 0.3;
  int64_t rigl_end_step = 0;
  double mult = 4.0;
  int64_t hidden = 0;
  std::string activation = "gelu";
  std::string factor_activation = "relu";
  bool bias = true;
  template <class V>
  void visit(V& v) {
    v("transform", transform, "wide | parallel | factorized | doped");
    v("sparsity", sparsity, "fraction of zero weights in every masked tensor, in [0, 1)");
    v("mask", mask, "static (random, fixed) | rigl (dynamic: drop by |w|, grow by |grad|)");
    v("rigl_every", rigl_every, "RigL: steps between mask updates (Delta T)");
    v("rigl_fraction", rigl_fraction, "RigL: drop fraction at step 0, cosine-decayed to 0 at rigl_end_step");
    v("rigl_end_step", rigl_end_step, "RigL: last update step (paper: 0.75 * train.steps); required for rigl");
    v("mult", mult, "hidden width of the dense counterpart as a multiple of d_model");
    v("hidden", hidden, "hidden width of the dense counterpart; 0 = mult * d_model");
    v("activation", activation, "gelu | gelu_tanh | relu | silu");
    v("factor_activation", factor_activation, "factorized: sigma between U and V: relu | none");
    v("bias", bias, "biases on the projections");
  }
};

// One dense layer in -> out transformed; returns the modules applied in order (1 or 2 of them).
class SparseProjection : public torch::nn::Module {
 public:
  SparseProjection(const SparseMlpOptions& o, int64_t in, int64_t out, double std) : sigma_(o.factor_activation) {
    const double s = o.sparsity, rho = 1.0 - s;
    RiglOptions rg{o.mask, o.rigl_every, o.rigl_fraction, o.rigl_end_step};
    const double io = static_cast<double>(in) * static_cast<double>(out);
    if (o.transform == "wide") {
      a_ = register_module("fc", std::make_shared<SparseIftLinear>(in, out, 1, rho, 0, o.bias, std, rg));
    } else if (o.transform == "parallel") {
      const int64_t beta = std::max<int64_t>(1, std::llround(1.0 / rho));
      a_ = register_module("fc", std::make_shared<SparseIftLinear>(in, out, beta, 1.0 / beta, 0, o.bias, std, rg));
    } else if (o.transform == "factorized") {
      const int64_t r = std::max<int64_t>(1, std::llround(io / (rho * static_cast<double>(in + out))));
      a_ = register_module("u", std::make_shared<SparseIftLinear>(in, r, 1, rho, 0, false, std, rg));
      b_ = register_module("v", std::make_shared<SparseIftLinear>(r, out, 1, rho, 0, o.bias, std, rg));
    } else if (o.transform == "doped") {
      const int64_t r = std::llround(s * io / static_cast<double>(in + out));
      a_ = register_module("fc", std::make_shared<SparseIftLinear>(in, out, 1, rho, r, o.bias, std, rg));
    } else {
      throw ConfigError(str("sparse_mlp.transform: unknown transform '", o.transform,
                            "' (wide, parallel, factorized, doped)"));
    }
  }
  at::Tensor forward(const at::Tensor& x) const {
    if (!b_) return a_->forward(x);
    at::Tensor h = a_->forward(x);
    return b_->forward(sigma_ == "none" ? h : at::relu(h));
  }
  double flops_per_row() const { return a_->flops_per_row() + (b_ ? b_->flops_per_row() : 0.0); }
  std::shared_ptr<SparseIftLinear> a_, b_;

 private:
  std::string sigma_;
};

class SparseMlp : public FeedForward {
 public:
  SparseMlp(const SparseMlpOptions& o, const LayerContext& c) : act_(o.activation) {
    check_activation(act_, "sparse_mlp.activation");
    LMF_REQUIRE(o.sparsity >= 0 && o.sparsity < 1, ConfigError, "sparse_mlp.sparsity: ", o.sparsity,
                " must be in [0, 1)");
    LMF_REQUIRE(o.factor_activation == "relu" || o.factor_activation == "none", ConfigError,
                "sparse_mlp.factor_activation: expected relu or none, got \"", o.factor_activation, "\"");
    int64_t h = o.hidden > 0 ? o.hidden : static_cast<int64_t>(std::llround(o.mult * c.d_model));
    if (o.transform == "wide") h = static_cast<int64_t>(std::llround(static_cast<double>(h) / (1.0 - o.sparsity)));
    const double std2 = c.init_std / std::sqrt(2.0 * c.n_layers);
    if (o.transform == "wide" || o.transform == "parallel" || o.transform == "doped") {
      // One masked tensor per projection: register it as fc1 / fc2 directly, so that at s = 0 the
      // parameter names are the dense mlp's (fc1.weight, fc1.bias, ...).
      fc1_ = register_module("fc1", SparseProjection(o, c.d_model, h, c.init_std).a_);
      fc2_ = register_module("fc2", SparseProjection(o, h, c.d_model, std2).a_);
    } else {
      f1_ = register_module("fc1", std::make_shared<SparseProjection>(o, c.d_model, h, c.init_std));
      f2_ = register_module("fc2", std::make_shared<SparseProjection>(o, h, c.d_model, std2));
    }
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    if (fc1_) return fc2_->forward(activation(fc1_->forward(x), act_));
    return f2_->forward(activation(f1_->forward(x), act_));
  }
  double flops_per_token() const override {
    if (fc1_) return fc1_->flops_per_row() + fc2_->flops_per_row();
    return f1_->flops_per_row() + f2_->flops_per_row();
  }

 private:
  std::string act_;
  std::shared_ptr<SparseIftLinear> fc1_, fc2_;
  std::shared_ptr<SparseProjection> f1_, f2_;
};

const bool kRegistered = FfnRegistry::add<SparseMlpOptions>(
    "sparse_mlp", "Sparse-IFT MLP: wide | parallel | factorized | doped at sparsity s, static or RigL masks",
    [](const SparseMlpOptions& o, const LayerContext& c) { return std::make_shared<SparseMlp>(o, c); });

}  // namespace
}  // namespace lmforge
