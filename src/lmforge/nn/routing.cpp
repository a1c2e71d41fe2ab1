// Routing Transformer attention; see routing.h for the method and the two assignment modes.
#include "lmforge/nn/routing.h"

#include <cmath>

#include <torch/csrc/autograd/grad_mode.h>

#include "lmforge/core/error.h"
#include "lmforge/nn/positions.h"
#include "lmforge/ops/banded_attn/op.h"

namespace lmforge {

namespace {
// Initial EMA count of every centroid: small, so that the first batches move the centroids most of
// the way to their members' mean (Adam-like warm start) while an empty cluster keeps its direction.
constexpr double kInitCount = 1e-3;
constexpr double kCountEps = 1e-5;  // Laplace smoothing of the counts (Google's implementation)

at::Tensor unit_norm(const at::Tensor& x) { return at::layer_norm(x, {x.size(-1)}); }
}  // namespace

RoutingAttention::RoutingAttention(const RoutingOptions& o, const LayerContext& c) : opt_(o), lc_(c) {
  LMF_REQUIRE(o.n_heads > 0, ConfigError, "routing.n_heads must be positive, got ", o.n_heads);
  LMF_REQUIRE(o.n_routing_heads >= 0 && o.n_routing_heads <= o.n_heads, ConfigError,
              "routing.n_routing_heads must be in [0, n_heads = ", o.n_heads, "], got ", o.n_routing_heads);
  LMF_REQUIRE(o.head_dim > 0 || c.d_model % o.n_heads == 0, ConfigError, "routing: d_model ", c.d_model,
              " is not divisible by n_heads ", o.n_heads, " (set head_dim)");
  LMF_REQUIRE(o.window >= 0 && o.n_clusters >= 0 && o.cluster_window >= 0, ConfigError,
              "routing: window, n_clusters and cluster_window must be >= 0");
  LMF_REQUIRE(o.assignment == "nearest" || o.assignment == "balanced", ConfigError,
              "routing.assignment must be 'nearest' or 'balanced', got '", o.assignment, "'");
  LMF_REQUIRE(o.decay >= 0 && o.decay < 1, ConfigError, "routing.decay must be in [0, 1), got ", o.decay);
  LMF_REQUIRE(c.position != "alibi", ConfigError,
              "routing: position = \"alibi\" is not supported (use rope, learned or none)");
  dh_ = o.head_dim > 0 ? o.head_dim : c.d_model / o.n_heads;
  LMF_REQUIRE(c.position != "rope" || dh_ % 2 == 0, ConfigError, "rope needs an even head_dim, got ", dh_);
  hr_ = o.n_routing_heads, hl_ = o.n_heads - hr_;
  k_ = o.n_clusters > 0 ? o.n_clusters
                        : std::max<int64_t>(1, std::llround(std::sqrt(static_cast<double>(c.max_seq_len))));
  in_ = register_module("in", std::make_shared<Dense>(c.d_model, (3 * hl_ + 2 * hr_) * dh_, o.qkv_bias, c.init_std));
  out_ = register_module("out", std::make_shared<Dense>(o.n_heads * dh_, c.d_model, o.out_bias,
                                                        c.init_std / std::sqrt(2.0 * c.n_layers)));
  at::Tensor mu = unit_norm(at::randn({std::max<int64_t>(hr_, 1), k_, dh_}));
  centroids = register_buffer("centroids", mu);
  ema_counts = register_buffer("ema_counts", at::full({mu.size(0), k_}, kInitCount));
  ema_sums = register_buffer("ema_sums", mu * kInitCount);
}

int64_t RoutingAttention::cluster_window(int64_t L) const {
  return opt_.cluster_window > 0 ? std::min(opt_.cluster_window, L) : (L + k_ - 1) / k_;
}

void RoutingAttention::update_centroids(const at::Tensor& xr, const at::Tensor& valid) {
  torch::NoGradGuard ng;
  const int64_t B = xr.size(0), L = xr.size(2), T = B * L;
  auto fo = centroids.options();
  at::Tensor xf = xr.to(centroids.scalar_type()).permute({1, 0, 2, 3}).reshape({hr_, T, dh_});
  at::Tensor c = at::matmul(xf, centroids.transpose(1, 2)).argmax(-1);  // (Hr, T)
  at::Tensor w = valid.defined() ? valid.reshape({1, T}).expand({hr_, T}).to(fo.dtype()) : at::ones({hr_, T}, fo);
  at::Tensor n = at::zeros({hr_, k_}, fo).scatter_add(1, c, w);
  at::Tensor s = at::zeros({hr_, k_, dh_}, fo).scatter_add(1, c.unsqueeze(-1).expand({hr_, T, dh_}), xf * w.unsqueeze(-1));
  ema_counts.mul_(opt_.decay).add_(n, 1.0 - opt_.decay);
  ema_sums.mul_(opt_.decay).add_(s, 1.0 - opt_.decay);
  centroids.copy_(unit_norm(ema_sums / (ema_counts + kCountEps).unsqueeze(-1)));
}

at::Tensor RoutingAttention::route(const at::Tensor& xr, const at::Tensor& v, const at::Tensor& valid, bool causal,
                                   int64_t L) {
  const int64_t B = xr.size(0), N = B * hr_, dv = v.size(-1);
  at::Tensor scores;
  {
    torch::NoGradGuard ng;
    scores = at::matmul(xr.detach().to(centroids.scalar_type()), centroids.transpose(1, 2).unsqueeze(0)).reshape({N, L, k_});
  }
  at::Tensor x = xr.reshape({N, L, dh_}), vv = v.reshape({N, L, dv});
  at::Tensor val = valid.defined() ? valid.unsqueeze(1).expand({B, hr_, L}).reshape({N, L}) : at::Tensor();
  const int64_t w = cluster_window(L);
  if (opt_.assignment == "nearest") {
    auto lo = at::TensorOptions().dtype(at::kLong).device(x.device());
    // Padding goes to an extra cluster K, so it never takes a slot in a real cluster's band.
    at::Tensor cl = scores.argmax(-1);
    if (val.defined()) cl = cl.masked_fill(val.logical_not(), k_);
    at::Tensor key = cl * L + at::arange(L, lo).view({1, L});
    auto [sorted, perm] = key.sort(-1);
    at::Tensor group = at::floor_divide(sorted, L);
    at::Tensor ix = perm.unsqueeze(-1).expand({N, L, dh_}), iv = perm.unsqueeze(-1).expand({N, L, dv});
    at::Tensor xs = x.gather(1, ix), vs = vv.gather(1, iv);
    at::Tensor ys = banded_attention(xs, xs, vs, group, val.defined() ? val.gather(1, perm) : val, w, causal);
    return at::zeros_like(ys).scatter(1, iv, ys).view({B, hr_, L, dv});
  }
  // balanced: the w best-scoring tokens of each cluster, in position order.
  at::Tensor s = scores.transpose(1, 2);  // (N, K, L)
  if (val.defined()) s = s.masked_fill(val.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  at::Tensor idx = std::get<0>(std::get<1>(s.topk(w, -1)).sort(-1)).reshape({N, k_ * w});
  at::Tensor ix = idx.unsqueeze(-1).expand({N, k_ * w, dh_}), iv = idx.unsqueeze(-1).expand({N, k_ * w, dv});
  at::Tensor xs = x.gather(1, ix).reshape({N * k_, w, dh_}), vs = vv.gather(1, iv).reshape({N * k_, w, dv});
  at::Tensor vals = val.defined() ? val.gather(1, idx).reshape({N * k_, w}) : val;
  at::Tensor ys = banded_attention(xs, xs, vs, at::Tensor(), vals, 0, causal).reshape({N, k_ * w, dv});
  at::Tensor sum = at::zeros({N, L, dv}, ys.options()).scatter_add(1, iv, ys);
  at::Tensor cnt = at::zeros({N, L}, ys.options()).scatter_add(1, idx, at::ones({N, k_ * w}, ys.options()));
  return (sum / cnt.clamp_min(1).unsqueeze(-1)).view({B, hr_, L, dv});
}

at::Tensor RoutingAttention::forward(const at::Tensor& x, ForwardContext& ctx) {
  const int64_t B = x.size(0), L = x.size(1);
  at::Tensor proj = in_->forward(x);
  const at::Tensor& valid = ctx.key_padding;
  std::vector<at::Tensor> heads;
  if (hl_ > 0) {
    at::Tensor qkv = proj.narrow(-1, 0, 3 * hl_ * dh_).view({B, L, 3, hl_, dh_}).permute({2, 0, 3, 1, 4});
    at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    if (lc_.position == "rope") {
      q = apply_rope(q, ctx.pos_offset, opt_.rope_base);
      k = apply_rope(k, ctx.pos_offset, opt_.rope_base);
    }
    at::Tensor val = valid.defined() ? valid.unsqueeze(1).expand({B, hl_, L}).reshape({B * hl_, L}) : at::Tensor();
    auto flat = [&](const at::Tensor& t) { return t.reshape({B * hl_, L, dh_}); };
    heads.push_back(banded_attention(flat(q), flat(k), flat(v), at::Tensor(), val, opt_.window, ctx.causal)
                        .view({B, hl_, L, dh_}));
  }
  if (hr_ > 0) {
    at::Tensor qv = proj.narrow(-1, 3 * hl_ * dh_, 2 * hr_ * dh_).view({B, L, 2, hr_, dh_}).permute({2, 0, 3, 1, 4});
    at::Tensor xr = unit_norm(qv[0]);  // (B, Hr, L, d): shared query/key
    heads.push_back(route(xr, qv[1], valid, ctx.causal, L).to(proj.scalar_type()));
    if (is_training()) {
      if (opt_.commitment > 0) {
        at::Tensor mu;
        {
          torch::NoGradGuard ng;
          at::Tensor c = at::matmul(xr.detach().to(centroids.scalar_type()), centroids.transpose(1, 2).unsqueeze(0)).argmax(-1);
          mu = centroids.unsqueeze(0).expand({B, hr_, k_, dh_}).gather(2, c.unsqueeze(-1).expand({B, hr_, L, dh_}));
        }
        at::Tensor d2 = (xr.to(mu.scalar_type()) - mu).pow(2).sum(-1);  // (B, Hr, L)
        at::Tensor loss = valid.defined()
                              ? (d2 * valid.unsqueeze(1).to(d2.scalar_type())).sum() / (valid.sum().clamp_min(1) * hr_)
                              : d2.mean();
        ctx.aux_losses["routing_commitment.layer" + std::to_string(lc_.layer_index)] = opt_.commitment * loss;
      }
      update_centroids(xr.detach(), valid);
    }
  }
  at::Tensor y = heads.size() == 1 ? heads[0] : at::cat({heads[0].to(proj.scalar_type()), heads[1]}, 1);
  return out_->forward(y.transpose(1, 2).reshape({B, L, opt_.n_heads * dh_}));
}

double RoutingAttention::flops_per_token(int64_t L) const {
  const double d = static_cast<double>(lc_.d_model), dh = static_cast<double>(dh_);
  double local = opt_.window > 0 ? std::min<double>(opt_.window, L) : (L + 1) / 2.0;
  double routed = static_cast<double>(cluster_window(L));
  return 2.0 * d * dh * (3 * hl_ + 2 * hr_) + 2.0 * opt_.n_heads * dh * d + 4.0 * dh * (hl_ * local + hr_ * routed) +
         2.0 * dh * hr_ * k_;
}

static const bool kRegistered = MixerRegistry::add<RoutingOptions>(
    "routing", "Routing Transformer attention: local (sliding-window) heads + k-means routing heads",
    [](const RoutingOptions& o, const LayerContext& c) { return std::make_shared<RoutingAttention>(o, c); });

}  // namespace lmforge
