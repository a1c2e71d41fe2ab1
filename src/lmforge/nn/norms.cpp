// Normalisation layers.
//   LayerNorm (Ba et al. 2016): y = (x - mean) / sqrt(var + eps) * g + b
//   RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x^2) + eps) * g
// Statistics are computed in fp32 whatever the activation dtype (at::layer_norm does so on CPU);
// RMSNorm upcasts explicitly for the same reason.
// Low-precision LayerNorm (MosaicBERT, Portes et al. 2023, "LPLayerNorm"): under bf16 autocast,
// LayerNorm's input, weight and bias are cast to bf16 and the op runs with autocast off, so it
// reads and writes bf16 instead of fp32 activations (the statistics are still accumulated in fp32
// inside the kernel). Without autocast it is the ordinary LayerNorm.
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "lmforge/core/precision.h"
#include "lmforge/nn/components.h"

namespace lmforge {

struct NormOptions {
  double eps = 1e-5;
  bool bias = true;            // LayerNorm only
  bool low_precision = false;  // LayerNorm only
  template <class V>
  void visit(V& v) {
    v("eps", eps, "added to the variance");
    v("bias", bias, "learned shift (LayerNorm)");
    v("low_precision", low_precision, "LayerNorm: run in the autocast dtype (bf16) under mixed precision (MosaicBERT)");
  }
};

class LayerNormLayer : public Norm {
 public:
  LayerNormLayer(const NormOptions& o, const LayerContext& c) : eps_(o.eps), low_precision_(o.low_precision) {
    weight = register_parameter("weight", at::ones({c.d_model}));
    if (o.bias) bias = register_parameter("bias", at::zeros({c.d_model}));
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    if (low_precision_) {
      const at::ScalarType dt = active_autocast_dtype(x.device());
      if (dt != at::kFloat) {
        c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
        return at::layer_norm(x.to(dt), {x.size(-1)}, weight.to(dt), bias.defined() ? bias.to(dt) : bias, eps_);
      }
    }
    return at::layer_norm(x, {x.size(-1)}, weight, bias, eps_);
  }
  at::Tensor weight, bias;

 private:
  double eps_;
  bool low_precision_;
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
