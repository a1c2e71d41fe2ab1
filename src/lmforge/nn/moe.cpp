// Sparse mixture of experts and MomentumSMoE; see moe.h for the formulas.
#include "lmforge/nn/activation.h"
#include "lmforge/nn/moe.h"

#include <cmath>

#include <torch/csrc/autograd/grad_mode.h>

#include "lmforge/core/error.h"

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
  at::Tensor valid = ctx.key_padding.defined() ? ctx.key_padding.reshape({T}) : at::Tensor();
  auto lo = at::TensorOptions().dtype(at::kLong).device(X.device());
  at::Tensor expert = top_i.reshape({A}), token = at::floor_divide(at::arange(A, lo), K);

  if (is_training() && opt_.balance_weight > 0) {
    at::Tensor probs = at::softmax(logits, -1);
    at::Tensor tw = valid.defined() ? valid.to(at::kFloat) : at::ones({T}, probs.options());
    at::Tensor n = tw.sum().clamp_min(1);
    at::Tensor frac = at::zeros({E}, probs.options()).index_add(0, expert, tw.repeat_interleave(K)) / (n * K);
    at::Tensor meanprob = (probs * tw.unsqueeze(1)).sum(0) / n;
    ctx.aux_losses["moe_balance.layer" + std::to_string(lc_.layer_index)] =
        opt_.balance_weight * E * (frac.detach() * meanprob).sum();
  }

  // Sort the assignments by expert (ties by assignment order, i.e. by token), apply the capacity.
  at::Tensor order, keep_sorted, counts;
  {
    torch::NoGradGuard ng;
    at::Tensor key = expert * A + at::arange(A, lo);
    at::Tensor sorted_key;
    std::tie(sorted_key, order) = key.sort();
    at::Tensor e_sorted = at::floor_divide(sorted_key, A);
    at::Tensor keep = valid.defined() ? valid.index_select(0, token.index_select(0, order)) : at::Tensor();
    if (keep.defined()) {  // padding takes no expert capacity
      order = order.index({keep});
      e_sorted = e_sorted.index({keep});
    }
    counts = at::bincount(e_sorted, {}, E);
    if (opt_.capacity_factor > 0) {
      const int64_t cap = static_cast<int64_t>(std::ceil(opt_.capacity_factor * A / E));
      at::Tensor start = at::cumsum(counts, 0) - counts;
      at::Tensor rank = at::arange(order.size(0), lo) - start.index_select(0, e_sorted);
      at::Tensor ok = rank < cap;
      order = order.index({ok});
      counts = counts.clamp_max(cap);
    }
  }
  // gather / scatter_add rather than index_select / index_add: on LibTorch 1.13 CPU, index_add (also
  // index_select's backward) loops over the rows one tensor op at a time, 6x slower end to end here.
  at::Tensor tok = token.index_select(0, order);
  at::Tensor rows = tok.unsqueeze(1).expand({tok.size(0), D});
  at::Tensor xs = X.gather(0, rows);
  std::vector<int64_t> sizes(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + E);
  std::vector<at::Tensor> parts = xs.split_with_sizes(sizes, 0), outs;
  std::vector<at::Tensor> W1 = w1.unbind(0), W2 = w2.unbind(0), B1, B2;
  if (b1.defined()) B1 = b1.unbind(0), B2 = b2.unbind(0);
  for (int64_t e = 0; e < E; ++e) {
    if (sizes[e] == 0) continue;
    at::Tensor hdn = activation(at::linear(parts[e], W1[e], B1.empty() ? at::Tensor() : B1[e]), opt_.activation);
    outs.push_back(at::linear(hdn, W2[e], B2.empty() ? at::Tensor() : B2[e]));
  }
  at::Tensor Y = at::zeros({T, D}, outs.empty() ? X.options() : outs[0].options());
  if (!outs.empty()) {
    at::Tensor ys = at::cat(outs, 0) * w.reshape({A}).gather(0, order).unsqueeze(1).to(outs[0].scalar_type());
    Y = Y.scatter_add(0, rows, ys);
  }
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
