// PowerNorm with its approximate backward (a custom autograd Function), and masked BatchNorm.
#include "lmforge/nn/powernorm.h"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/second_order.h"

namespace lmforge {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// z = x * scale (scale: the forward statistic); backward as in powernorm.h.
struct PowerFn : public torch::autograd::Function<PowerFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& scale,
                            const at::Tensor& inv_batch, const at::Tensor& gamma, const at::Tensor& valid,
                            double alpha_bwd, bool exact) {
    at::Tensor z = x * scale;
    ctx->save_for_backward({z, inv_batch, valid});
    ctx->saved_data["gamma"] = gamma;  // a buffer, updated in place by the backward
    ctx->saved_data["alpha_bwd"] = alpha_bwd;
    ctx->saved_data["exact"] = exact;
    return z;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // The approximate backward is the method itself; it has no second derivative to take.
    require_first_order_backward("PowerNorm (norm = \"powernorm\": its approximate backward)");
    auto saved = ctx->get_saved_variables();
    const at::Tensor &z = saved[0], &inv_batch = saved[1], &valid = saved[2];  // valid: (T, 1)
    at::Tensor g = grads[0];
    at::Tensor dx;
    if (ctx->saved_data["exact"].toBool()) {
      // Every row (padding too) is scaled by the batch statistic, so all rows enter the sum.
      at::Tensor gz = (g * z).sum(0) / valid.sum().clamp_min(1);
      dx = (g - gz * z * valid) * inv_batch;
    } else {
      at::Tensor gamma = ctx->saved_data["gamma"].toTensor();
      const double ab = ctx->saved_data["alpha_bwd"].toDouble();
      at::Tensor gt = g - (1.0 - ab) * gamma.to(g.scalar_type()) * z;
      dx = gt * inv_batch;
      torch::NoGradGuard ng;
      gamma.add_((gt * z).mean(0).to(gamma.scalar_type()));
    }
    return {dx, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::ScalarType compute_type(const at::Tensor& x) { return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

// (T, 1) weights of the real tokens.
at::Tensor token_weights(const ForwardContext& ctx, int64_t T, at::ScalarType dt) {
  at::Tensor real = real_token_mask(ctx, T);
  return real.defined() ? real.reshape({T, 1}).to(dt) : at::ones({T, 1}, at::TensorOptions().dtype(dt));
}

}  // namespace

PowerNorm::PowerNorm(const PowerNormOptions& o, const LayerContext& c) : opt_(o) {
  LMF_REQUIRE(o.groups >= 1 && c.d_model % o.groups == 0, ConfigError, "powernorm.groups (", o.groups,
              ") must divide d_model ", c.d_model);
  LMF_REQUIRE(o.alpha_fwd >= 0 && o.alpha_fwd < 1 && o.alpha_bwd >= 0 && o.alpha_bwd <= 1, ConfigError,
              "powernorm: alpha_fwd must be in [0, 1) and alpha_bwd in [0, 1]");
  weight = register_parameter("weight", at::ones({c.d_model}));
  if (o.bias) bias = register_parameter("bias", at::zeros({c.d_model}));
  running_phi = register_buffer("running_phi", at::ones({c.d_model}));
  ema_gz = register_buffer("ema_gz", at::zeros({c.d_model}));
  iters = register_buffer("iters", at::zeros({}, at::kLong));
}

at::Tensor PowerNorm::forward(const at::Tensor& x, ForwardContext& ctx) {
  const int64_t C = x.size(-1), T = x.numel() / C;
  const auto dt = compute_type(x);
  at::Tensor X = x.to(dt).reshape({T, C});
  if (opt_.group_scaling) {
    at::Tensor g = X.view({T, opt_.groups, C / opt_.groups});
    X = (g * at::rsqrt(g.pow(2).mean(-1, true) + 1e-5)).view({T, C});
  }
  at::Tensor z;
  if (is_training()) {
    at::Tensor valid = token_weights(ctx, T, dt);
    at::Tensor psi_b, use;
    {
      torch::NoGradGuard ng;
      psi_b = (X.detach().pow(2) * valid).sum(0) / valid.sum().clamp_min(1);
      const int64_t t = iters.item<int64_t>() + 1;
      iters.fill_(t);
      const bool warm = t <= opt_.warmup;
      use = (opt_.exact || warm) ? psi_b : running_phi.to(dt).clone();
      at::Tensor pf = psi_b.to(running_phi.scalar_type());
      if (warm) running_phi.mul_(static_cast<double>(t - 1) / t).add_(pf / static_cast<double>(t));
      running_phi.mul_(opt_.alpha_fwd).add_(pf, 1.0 - opt_.alpha_fwd);
    }
    z = PowerFn::apply(X, at::rsqrt(use + opt_.eps), at::rsqrt(psi_b + opt_.eps), ema_gz, valid, opt_.alpha_bwd,
                       opt_.exact);
  } else {
    z = X * at::rsqrt(running_phi.to(dt) + opt_.eps);
  }
  at::Tensor y = z * weight.to(dt);
  if (bias.defined()) y = y + bias.to(dt);
  return y.view(x.sizes()).to(x.scalar_type());
}

MaskedBatchNorm::MaskedBatchNorm(const BatchNormOptions& o, const LayerContext& c) : opt_(o) {
  weight = register_parameter("weight", at::ones({c.d_model}));
  bias = register_parameter("bias", at::zeros({c.d_model}));
  running_mean = register_buffer("running_mean", at::zeros({c.d_model}));
  running_var = register_buffer("running_var", at::ones({c.d_model}));
}

at::Tensor MaskedBatchNorm::forward(const at::Tensor& x, ForwardContext& ctx) {
  const int64_t C = x.size(-1), T = x.numel() / C;
  const auto dt = compute_type(x);
  at::Tensor X = x.to(dt).reshape({T, C}), z;
  if (is_training()) {
    at::Tensor valid = token_weights(ctx, T, dt), n = valid.sum().clamp_min(1);
    at::Tensor mean = (X * valid).sum(0) / n;
    at::Tensor var = ((X - mean).pow(2) * valid).sum(0) / n;
    z = (X - mean) * at::rsqrt(var + opt_.eps);
    torch::NoGradGuard ng;
    running_mean.mul_(1 - opt_.momentum).add_(mean.detach().to(at::kFloat), opt_.momentum);
    running_var.mul_(1 - opt_.momentum).add_(var.detach().to(at::kFloat), opt_.momentum);
  } else {
    z = (X - running_mean.to(dt)) * at::rsqrt(running_var.to(dt) + opt_.eps);
  }
  return (z * weight.to(dt) + bias.to(dt)).view(x.sizes()).to(x.scalar_type());
}

static const bool kPowerNorm = NormRegistry::add<PowerNormOptions>(
    "powernorm", "PowerNorm: running quadratic mean per channel, approximate backward, warm-up",
    [](const PowerNormOptions& o, const LayerContext& c) { return std::make_shared<PowerNorm>(o, c); });
static const bool kBatchNorm = NormRegistry::add<BatchNormOptions>(
    "batchnorm", "BatchNorm over the real tokens of the batch (padding excluded), running stats in eval",
    [](const BatchNormOptions& o, const LayerContext& c) { return std::make_shared<MaskedBatchNorm>(o, c); });

}  // namespace lmforge
