// Normalisation layers.
//   LayerNorm (Ba et al. 2016): y = (x - mean) / sqrt(var + eps) * g + b
//   RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x^2) + eps) * g
// Statistics are computed in fp32 whatever the activation dtype (at::layer_norm does so on CPU);
// RMSNorm upcasts explicitly for the same reason.
#include "lmforge/nn/components.h"

namespace lmforge {

struct NormOptions {
  double eps = 1e-5;
  bool bias = true;  // LayerNorm only
  template <class V>
  void visit(V& v) {
    v("eps", eps, "added to the variance");
    v("bias", bias, "learned shift (LayerNorm)");
  }
};

class LayerNormLayer : public Norm {
 public:
  LayerNormLayer(const NormOptions& o, const LayerContext& c) : eps_(o.eps) {
    weight = register_parameter("weight", at::ones({c.d_model}));
    if (o.bias) bias = register_parameter("bias", at::zeros({c.d_model}));
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    return at::layer_norm(x, {x.size(-1)}, weight, bias, eps_);
  }
  at::Tensor weight, bias;

 private:
  double eps_;
};

class RmsNormLayer : public Norm {
 public:
  RmsNormLayer(const NormOptions& o, const LayerContext& c) : eps_(o.eps) {
    weight = register_parameter("weight", at::ones({c.d_model}));
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps_);
    return (y * weight).to(x.scalar_type());
  }
  at::Tensor weight;

 private:
  double eps_;
};

static const bool kLayerNorm = NormRegistry::add<NormOptions>(
    "layernorm", "LayerNorm: mean and variance over the channels",
    [](const NormOptions& o, const LayerContext& c) { return std::make_shared<LayerNormLayer>(o, c); });
static const bool kRmsNorm = NormRegistry::add<NormOptions>(
    "rmsnorm", "RMSNorm: root-mean-square over the channels, no mean subtraction",
    [](const NormOptions& o, const LayerContext& c) { return std::make_shared<RmsNormLayer>(o, c); });

}  // namespace lmforge
