// Position-wise feed-forwards.
//   mlp: W2 act(W1 x + b1) + b2            (Vaswani et al. 2017; GELU as in GPT-2/BERT)
//   glu: W2 (act(Wg x) * (Wu x))           (Shazeer 2020, "GLU Variants Improve Transformer"):
//        act = silu gives SwiGLU, gelu gives GeGLU (MosaicBERT's choice).
// For glu the two input projections are one fused matrix [Wg; Wu] so one GEMM reads x once.
#include <cmath>

#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"
#include "lmforge/ops/activation.h"

namespace lmforge {

struct FfnOptions {
  double mult = 4.0;       // hidden width = mult * d_model (rounded)
  int64_t hidden = 0;      // explicit hidden width; overrides mult
  std::string activation = "gelu";
  bool bias = true;
  template <class V>
  void visit(V& v) {
    v("mult", mult, "hidden width as a multiple of d_model");
    v("hidden", hidden, "hidden width; 0 = mult * d_model");
    v("activation", activation, "gelu | gelu_tanh | relu | silu");
    v("bias", bias, "biases on the projections");
  }
  int64_t width(int64_t d) const { return hidden > 0 ? hidden : static_cast<int64_t>(std::llround(mult * d)); }
};

class Mlp : public FeedForward {
 public:
  Mlp(const FfnOptions& o, const LayerContext& c) : act_(o.activation) {
    check_activation(act_, "mlp.activation");
    const int64_t h = o.width(c.d_model);
    fc1_ = register_module("fc1", std::make_shared<Dense>(c.d_model, h, o.bias, c.init_std));
    fc2_ = register_module("fc2", std::make_shared<Dense>(h, c.d_model, o.bias, c.init_std / std::sqrt(2.0 * c.n_layers)));
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    return fc2_->forward(activation(fc1_->forward(x), act_));
  }
  double flops_per_token() const override {
    return 2.0 * 2.0 * fc1_->in_features() * fc1_->out_features();
  }

 private:
  std::string act_;
  std::shared_ptr<Dense> fc1_, fc2_;
};

class Glu : public FeedForward {
 public:
  Glu(const FfnOptions& o, const LayerContext& c) : act_(o.activation) {
    check_activation(act_, "glu.activation");
    h_ = o.width(c.d_model);
    fc1_ = register_module("fc1", std::make_shared<Dense>(c.d_model, 2 * h_, o.bias, c.init_std));
    fc2_ = register_module("fc2", std::make_shared<Dense>(h_, c.d_model, o.bias, c.init_std / std::sqrt(2.0 * c.n_layers)));
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    at::Tensor gu = fc1_->forward(x);
    return fc2_->forward(activation(gu.narrow(-1, 0, h_), act_) * gu.narrow(-1, h_, h_));
  }
  double flops_per_token() const override { return 2.0 * 3.0 * fc1_->in_features() * h_; }

 private:
  std::string act_;
  int64_t h_;
  std::shared_ptr<Dense> fc1_, fc2_;
};

static const bool kMlp = FfnRegistry::add<FfnOptions>(
    "mlp", "two-layer MLP with an activation",
    [](const FfnOptions& o, const LayerContext& c) { return std::make_shared<Mlp>(o, c); });
static const bool kGlu = FfnRegistry::add<FfnOptions>(
    "glu", "gated linear unit feed-forward (SwiGLU with silu, GeGLU with gelu)",
    [](const FfnOptions& o, const LayerContext& c) { return std::make_shared<Glu>(o, c); });

}  // namespace lmforge
