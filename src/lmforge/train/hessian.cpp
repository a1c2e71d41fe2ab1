// Hessian-vector products, Rademacher probes and AdaHessian's block averaging (see hessian.h).
#include "lmforge/train/hessian.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include "lmforge/core/error.h"

namespace lmforge {

std::vector<at::Tensor> CurvatureOptimizer::curvature_params() const {
  std::vector<at::Tensor> out;
  for (const auto& g : param_groups())
    for (const auto& p : g.params()) out.push_back(p);
  return out;
}

std::vector<at::Tensor> rademacher_probes(const std::vector<at::Tensor>& like, uint64_t seed, int64_t step) {
  // Its own generator: the global one draws dropout masks, which must not shift when probes are
  // drawn on some steps only.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed * 0x9E3779B97F4A7C15ULL + 0x5eedULL +
                                                               static_cast<uint64_t>(step));
  std::vector<at::Tensor> z;
  z.reserve(like.size());
  for (const auto& p : like) {
    at::Tensor bits = at::randint(0, 2, p.sizes(), gen, at::TensorOptions().dtype(at::kFloat));
    z.push_back((bits * 2 - 1).to(p.options()));
  }
  return z;
}

std::vector<at::Tensor> hessian_vector_product(const std::vector<at::Tensor>& grads,
                                               const std::vector<at::Tensor>& params,
                                               const std::vector<at::Tensor>& v, bool retain_graph) {
  LMF_REQUIRE(grads.size() == params.size() && v.size() == params.size(), UserError,
              "hessian_vector_product: ", grads.size(), " gradients, ", params.size(), " parameters, ", v.size(),
              " vectors (need one each)");
  std::vector<at::Tensor> outs, vs;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && grads[i].requires_grad()) outs.push_back(grads[i]), vs.push_back(v[i]);
  if (outs.empty()) return std::vector<at::Tensor>(params.size());
  return torch::autograd::grad(outs, params, vs, retain_graph, /*create_graph=*/false, /*allow_unused=*/true);
}

namespace {

std::string name_of(const torch::nn::Module& model, const at::Tensor& p) {
  for (const auto& np : model.named_parameters())
    if (np.value().unsafeGetTensorImpl() == p.unsafeGetTensorImpl()) return np.key();
  return "<a parameter outside the model>";
}

}  // namespace

void accumulate_gradient_and_hvp(const at::Tensor& loss, const std::vector<at::Tensor>& params,
                                 const std::vector<at::Tensor>& z, std::vector<at::Tensor>& hz,
                                 const torch::nn::Module& model) {
  std::vector<at::Tensor> g = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true,
                                                    /*create_graph=*/true, /*allow_unused=*/true);
  for (size_t i = 0; i < params.size(); ++i)
    LMF_REQUIRE(!g[i].defined() || g[i].requires_grad(), UserError, "cannot take a Hessian-vector product for "
                "parameter '", name_of(model, params[i]), "': its gradient has no graph (an operation on its path "
                "is not twice differentiable, or ran without autograd)");
  std::vector<at::Tensor> h = hessian_vector_product(g, params, z);
  for (size_t i = 0; i < params.size(); ++i) {
    if (g[i].defined()) {
      at::Tensor gi = g[i].detach();
      at::Tensor& acc = params[i].mutable_grad();
      acc = acc.defined() ? acc + gi : gi;
    }
    if (h[i].defined()) hz[i] = hz[i].defined() ? hz[i] + h[i] : h[i];
  }
}

at::Tensor block_average(const at::Tensor& d, int64_t block) {
  LMF_REQUIRE(block >= 0, ConfigError, "block_average: block must be >= 0, got ", block);
  if (d.dim() <= 1) return d;
  if (d.dim() == 3) return d.mean(-1, /*keepdim=*/true).expand_as(d).contiguous();
  if (d.dim() >= 4) return d.mean({-2, -1}, /*keepdim=*/true).expand_as(d).contiguous();
  if (block == 0) return d.mean(1, /*keepdim=*/true).expand_as(d).contiguous();
  const at::Tensor flat = d.reshape({-1});
  const int64_t n = flat.numel(), full = n / block * block;
  at::Tensor out = at::empty_like(flat);
  if (full > 0)
    out.narrow(0, 0, full).view({-1, block}).copy_(flat.narrow(0, 0, full).view({-1, block}).mean(1, true).expand({-1, block}));
  if (full < n) out.narrow(0, full, n - full).fill_(flat.narrow(0, full, n - full).mean());
  return out.view(d.sizes());
}

}  // namespace lmforge
