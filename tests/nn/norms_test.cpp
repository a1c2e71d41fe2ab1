// LayerNorm's low-precision mode (MosaicBERT's LPLayerNorm): under bf16 autocast it returns bf16
// equal to LayerNorm of the bf16-rounded input with bf16-rounded parameters, and its gradients
// reach the fp32 parameters; without autocast it is bit-identical to the ordinary LayerNorm.
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "lmforge/core/precision.h"
#include "lmforge/nn/components.h"

using namespace lmforge;

namespace {

std::shared_ptr<Norm> layernorm(bool low_precision, int64_t d) {
  toml::table t;
  t.insert("low_precision", low_precision);
  LayerContext c;
  c.d_model = d;
  auto n = NormRegistry::at("layernorm", "test").build(t, "model.block.layernorm", c);
  torch::NoGradGuard ng;
  for (auto& p : n->parameters()) p.uniform_(0.5, 1.5);  // weight and bias away from 1 and 0
  return n;
}

}  // namespace

TEST(LowPrecisionLayerNorm, Bf16UnderAutocastWithFp32Gradients) {
  at::manual_seed(0);
  auto lp = layernorm(true, 48);
  at::Tensor x = (3 * at::randn({4, 7, 48}) + 1).requires_grad_(true);
  ForwardContext c;
  at::Tensor y;
  {
    AutocastGuard ac(at::kBFloat16, at::Device(at::kCPU));
    y = lp->forward(x, c);
  }
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  auto params = lp->parameters();
  at::Tensor w = params[0].detach(), b = params[1].detach();
  const at::Tensor want = at::layer_norm(x.detach().to(at::kBFloat16).to(at::kFloat), {48},
                                         w.to(at::kBFloat16).to(at::kFloat), b.to(at::kBFloat16).to(at::kFloat), 1e-5);
  // One bf16 rounding of the output (2^-8 relative) on values of size ~2.
  EXPECT_TRUE(at::allclose(y.to(at::kFloat), want, 2e-2, 2e-2)) << (y.to(at::kFloat) - want).abs().max().item<float>();
  at::Tensor g = at::randn({4, 7, 48});
  auto grads = torch::autograd::grad({(y.to(at::kFloat) * g).sum()}, {x, params[0], params[1]});
  EXPECT_EQ(grads[0].scalar_type(), at::kFloat);
  EXPECT_EQ(grads[1].scalar_type(), at::kFloat);
  // Against the fp32 LayerNorm's gradients: bf16 rounding of x, y and the upstream path.
  at::Tensor xf = x.detach().requires_grad_(true), wf = w.clone().requires_grad_(true), bf = b.clone().requires_grad_(true);
  auto ref = torch::autograd::grad({(at::layer_norm(xf, {48}, wf, bf, 1e-5) * g).sum()}, {xf, wf, bf});
  for (int i = 0; i < 3; ++i) {
    const double scale = ref[i].abs().max().item<double>();
    EXPECT_LT((grads[i] - ref[i]).abs().max().item<double>(), 3e-2 * scale) << "gradient " << i;
  }
}

TEST(LowPrecisionLayerNorm, IdenticalToLayerNormWithoutAutocast) {
  at::manual_seed(1);
  auto lp = layernorm(true, 16);
  at::Tensor x = at::randn({3, 5, 16});
  ForwardContext c;
  auto params = lp->parameters();
  EXPECT_TRUE(at::equal(lp->forward(x, c), at::layer_norm(x, {16}, params[0], params[1], 1e-5)));
}
