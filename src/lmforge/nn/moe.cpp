// Sparse mixture of experts and MomentumSMoE; see moe.h for the formulas.
#include "lmforge/nn/moe.h"

#include <cmath>

#include <torch/csrc/autograd/grad_mode.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/activation.h"
#include "lmforge/ops/moe_dispatch/op.h"

namespace lmforge {


namespace {
const char* kState = "moe.momentum";       // p (B, L, D)
const char* kWriter = "moe.momentum.layer";  // layer index of the layer that wrote p
}  // namespace

MoeFfn::MoeFfn(const MoeOptions& o, const LayerContext& c) : opt_(o), lc_(c) {
  LMF_REQUIRE(o.n_experts >= 1, ConfigError, "moe.n_experts must be >= 1, got ", o.n_experts);
  LMF_REQUIRE(o.top_k >= 1 && o.top_k <= o.n_experts, ConfigError, "moe.top_k must be in [1, n_experts = ",
              o.n_experts, "], got ", o.top_k);
  LMF_REQUIRE(o.capacity_factor >= 0, ConfigError, "moe.capacity_factor must be >= 0");
  LMF_REQUIRE(o.momentum == "none" || o.momentum == "heavy_ball" || o.momentum == "adam" || o.momentum == "robust",
              ConfigError, "moe.momentum must be none, heavy_ball, adam or robust, got '", o.momentum, "'");
  LMF_REQUIRE(o.momentum != "robust" || (o.rho > 0 && o.rho < 1 && o.kappa > 1), ConfigError,
              "moe robust momentum needs 0 < rho < 1 and kappa > 1");
  check_activation(o.activation, "moe.activation");
  const int64_t E = o.n_experts, D = c.d_model;
  h_ = o.hidden > 0 ? o.hidden : static_cast<int64_t>(std::llround(o.mult * D));
  gate = register_module("gate", std::make_shared<Dense>(D, E, true, c.init_std));
  w1 = register_parameter("w1", at::randn({E, h_, D}) * c.init_std);
  w2 = register_parameter("w2", at::randn({E, D, h_}) * (c.init_std / std::sqrt(2.0 * c.n_layers)));
  if (o.bias) {
    b1 = register_parameter("b1", at::zeros({E, h_}));
    b2 = register_parameter("b2", at::zeros({E, D}));
  }
}

at::Tensor MoeFfn::smoe(const at::Tensor& x, ForwardContext& ctx) {
  const int64_t E = opt_.n_experts, K = opt_.top_k, D = x.size(-1);
  at::Tensor X = x.reshape({-1, D});
  const int64_t T = X.size(0), A = T * K;
  at::Tensor logits = gate->forward(X);  // (T, E), gate math in fp32 at least
  if (logits.scalar_type() != at::kDouble) logits = logits.to(at::kFloat);
  auto [top_v, top_i] = logits.topk(K, -1);
  at::Tensor w = at::softmax(top_v, -1);  // (T, K)
  at::Tensor valid = real_token_mask(ctx, T);
  at::Tensor expert = top_i.reshape({A});

  if (is_training() && opt_.balance_weight > 0) {
    at::Tensor probs = at::softmax(logits, -1);
    at::Tensor tw = valid.defined() ? valid.to(at::kFloat) : at::ones({T}, probs.options());
    at::Tensor n = tw.sum().clamp_min(1);
    at::Tensor frac = at::zeros({E}, probs.options()).index_add(0, expert, tw.repeat_interleave(K)) / (n * K);
    at::Tensor meanprob = (probs * tw.unsqueeze(1)).sum(0) / n;
    ctx.aux_losses["moe_balance.layer" + std::to_string(lc_.layer_index)] =
        opt_.balance_weight * E * (frac.detach() * meanprob).sum();
  }

  // Sort the assignments by expert, apply padding and capacity; then the experts on their own rows
  // and the weighted combine in one operator (ops/moe_dispatch).
  MoeRoute route = moe_route(top_i, E, opt_.capacity_factor, valid);
  at::Tensor Y = moe_dispatch(X, w, route.order, route.counts, w1, b1, w2, b2, opt_.activation);
  return Y.view(x.sizes());
}

at::Tensor MoeFfn::forward(const at::Tensor& x, ForwardContext& ctx) {
  if (opt_.momentum == "none") return smoe(x, ctx);
  at::Tensor prev;
  auto it = ctx.carry.find(kState), wr = ctx.carry.find(kWriter);
  if (it != ctx.carry.end() && wr != ctx.carry.end() && wr->second.item<int64_t>() < lc_.layer_index &&
      it->second.sizes() == x.sizes())
    prev = it->second;
  auto scale = [](const at::Tensor& t, double s) { return s == 1.0 ? t : t * s; };
  at::Tensor out, p;
  if (opt_.momentum == "robust") {
    const double r = opt_.rho, k = opt_.kappa;
    const double alpha = k * (1 - r) * (1 - r) * (1 + r), beta = k * r * r * r / (k - 1),
                 look = r * r * r / ((k - 1) * (1 - r) * (1 - r) * (1 + r));
    at::Tensor f = smoe(prev.defined() ? x + prev.to(x.scalar_type()) * look : x, ctx);
    p = prev.defined() ? prev * beta + f * alpha : f * alpha;
    out = p;
  } else {
    at::Tensor f = smoe(x, ctx);
    p = prev.defined() && opt_.mu != 0 ? prev * opt_.mu + scale(f, opt_.gamma) : scale(f, opt_.gamma);
    out = p;
    if (opt_.momentum == "adam" && !prev.defined()) {
      at::Tensor ff = f.to(at::kFloat);
      at::Tensor m = ff * (1 - opt_.beta1), v = ff * ff * (1 - opt_.beta2);
      out = (m * (opt_.adam_gamma / 1.0) / at::sqrt(v + opt_.adam_eps)).to(f.scalar_type());
    }
  }
  ctx.carry[kState] = p;
  ctx.carry[kWriter] = at::full({}, lc_.layer_index, at::kLong);
  return out;
}

double MoeFfn::flops_per_token() const {
  const double D = static_cast<double>(lc_.d_model);
  return 2.0 * D * opt_.n_experts + opt_.top_k * 2.0 * 2.0 * D * h_;
}

static const bool kRegistered = FfnRegistry::add<MoeOptions>(
    "moe", "sparse mixture of experts (top-k, load balancing, capacity) with optional MomentumSMoE",
    [](const MoeOptions& o, const LayerContext& c) { return std::make_shared<MoeFfn>(o, c); });

}  // namespace lmforge
