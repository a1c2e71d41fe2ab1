#include "lmforge/nn/linear_attention.h"

#include <cmath>
#include <limits>
#include <string>

#include <ATen/autocast_mode.h>

#include "lmforge/core/error.h"
#include "lmforge/nn/positions.h"
#include "lmforge/ops/linear_attention/op.h"

namespace lmforge {
namespace {

// Hedgehog: per-head u = W_h x + b_h (W_h init identity), phi = softmax([u, -u]) over 2d features.
class HedgehogMap : public FeatureMap {
 public:
  HedgehogMap(int64_t H, int64_t d) : d_(d) {
    weight = register_parameter("weight", at::eye(d).unsqueeze(0).repeat({H, 1, 1}));  // (H, d_out, d_in)
    bias = register_parameter("bias", at::zeros({H, 1, d}));
  }
  at::Tensor forward(const at::Tensor& x, bool) override {
    at::Tensor u = at::matmul(x, weight.transpose(-2, -1)) + bias;  // (B, H, L, d)
    return at::softmax(at::cat({u, -u}, -1), -1);
  }
  int64_t dim() const override { return 2 * d_; }
  at::Tensor weight, bias;

 private:
  int64_t d_;
};

class EluMap : public FeatureMap {
 public:
  explicit EluMap(int64_t d) : d_(d) {}
  at::Tensor forward(const at::Tensor& x, bool) override { return at::elu(x) + 1.0; }
  int64_t dim() const override { return d_; }

 private:
  int64_t d_;
};

class ReluMap : public FeatureMap {
 public:
  explicit ReluMap(int64_t d) : d_(d) {}
  at::Tensor forward(const at::Tensor& x, bool) override { return at::relu(x); }
  int64_t dim() const override { return d_; }

 private:
  int64_t d_;
};

// FAVOR+ positive random features; shared by queries and keys (the same w).
class PerformerMap : public FeatureMap {
 public:
  PerformerMap(int64_t H, int64_t d, int64_t m) : H_(H), d_(d), m_(m) {
    w = register_buffer("w", at::randn({H, m, d}));
  }
  void redraw() { w.copy_(at::randn(w.sizes())); }
  at::Tensor forward(const at::Tensor& x, bool is_query) override {
    at::Tensor xs = x * std::pow(static_cast<double>(d_), -0.25);
    at::Tensor a = at::matmul(xs, w.to(x.scalar_type()).transpose(-2, -1)) - 0.5 * (xs * xs).sum(-1, true);
    if (is_query) a = a - std::get<0>(a.max(-1, true)).detach();  // cancels in the ratio
    return at::exp(a) * (1.0 / std::sqrt(static_cast<double>(m_)));
  }
  int64_t dim() const override { return m_; }
  at::Tensor w;

 private:
  int64_t H_, d_, m_;
};

// Based's second-order Taylor map: phi(q).phi(k) = 1 + q.k/sqrt(d) + (q.k)^2/(2d).
class TaylorMap : public FeatureMap {
 public:
  explicit TaylorMap(int64_t d) : d_(d) {}
  at::Tensor forward(const at::Tensor& x, bool) override {
    const double dd = static_cast<double>(d_);
    at::Tensor x2 = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2) * (1.0 / std::sqrt(2.0 * std::sqrt(dd) * std::sqrt(dd)));
    std::vector<int64_t> one_shape = x.sizes().vec();
    one_shape.back() = 1;
    return at::cat({at::ones(one_shape, x.options()), x * std::pow(dd, -0.25), x2}, -1);
  }
  int64_t dim() const override { return 1 + d_ + d_ * d_; }

 private:
  int64_t d_;
};

// Runs its scope in fp32 even under bf16 autocast (the feature maps, the linear attention core and
// the distillation weights): the stabilisation of nn/linear_attention.h relies on it.
class Fp32Scope {
 public:
  Fp32Scope() : cpu_(at::autocast::is_cpu_enabled()), gpu_(at::autocast::is_enabled()) {
    at::autocast::set_cpu_enabled(false);
    at::autocast::set_enabled(false);
  }
  ~Fp32Scope() {
    at::autocast::set_cpu_enabled(cpu_);
    at::autocast::set_enabled(gpu_);
  }

 private:
  bool cpu_, gpu_;
};

struct LinearState : MixerState {
  LinearAttentionState s;
  void select_rows(const at::Tensor& rows) override {
    s.S = select_state_rows(s.S, rows);
    s.z = select_state_rows(s.z, rows);
  }
};

}  // namespace

std::shared_ptr<FeatureMap> make_feature_map(const std::string& name, int64_t H, int64_t d, int64_t n_features) {
  if (name == "hedgehog") return std::make_shared<HedgehogMap>(H, d);
  if (name == "elu") return std::make_shared<EluMap>(d);
  if (name == "relu") return std::make_shared<ReluMap>(d);
  if (name == "performer") return std::make_shared<PerformerMap>(H, d, n_features > 0 ? n_features : d);
  if (name == "taylor") return std::make_shared<TaylorMap>(d);
  throw ConfigError(str("linear_attention.feature_map: unknown map '", name,
                        "' (expected hedgehog, elu, relu, performer or taylor)"));
}

LinearAttentionMixer::LinearAttentionMixer(const LinearAttentionMixerOptions& o, const LayerContext& c)
    : opt_(o), lc_(c) {
  LMF_REQUIRE(o.n_heads > 0, ConfigError, "linear_attention.n_heads must be positive, got ", o.n_heads);
  LMF_REQUIRE(o.head_dim > 0 || c.d_model % o.n_heads == 0, ConfigError, "linear_attention: d_model ", c.d_model,
              " is not divisible by n_heads ", o.n_heads, " (set head_dim)");
  LMF_REQUIRE(o.chunk >= 1, ConfigError, "linear_attention.chunk must be >= 1, got ", o.chunk);
  LMF_REQUIRE(o.eps >= 0, ConfigError, "linear_attention.eps must be >= 0, got ", o.eps);
  dv_ = o.head_dim > 0 ? o.head_dim : c.d_model / o.n_heads;
  dqk_ = o.qk_dim > 0 ? o.qk_dim : o.feature_map == "taylor" ? 16 : dv_;
  LMF_REQUIRE(c.position != "rope" || dqk_ % 2 == 0, ConfigError, "rope needs an even qk_dim, got ", dqk_);
  const int64_t H = o.n_heads;
  qkv_ = register_module("qkv", std::make_shared<Dense>(c.d_model, H * (2 * dqk_ + dv_), o.qkv_bias, c.init_std));
  out_ = register_module("out", std::make_shared<Dense>(H * dv_, c.d_model, o.out_bias,
                                                        c.init_std / std::sqrt(2.0 * c.n_layers)));
  phi_q_ = register_module("phi_q", make_feature_map(o.feature_map, H, dqk_, o.n_features));
  // Hedgehog learns separate maps for queries and keys; the others share one (Performer must:
  // queries and keys need the same random features).
  phi_k_ = o.feature_map == "hedgehog" ? register_module("phi_k", make_feature_map(o.feature_map, H, dqk_, 0)) : phi_q_;
}

LinearAttentionMixer::Projected LinearAttentionMixer::project(const at::Tensor& x, int64_t pos_offset) {
  const int64_t B = x.size(0), L = x.size(1), H = opt_.n_heads;
  // Layout [q of every head | k | v], as in softmax attention's fused projection, so a trained
  // attention layer converts by copying its weights (lmforge convert).
  at::Tensor qkv = qkv_->forward(x);
  auto heads = [&](int64_t off, int64_t w) {
    return qkv.narrow(-1, off, H * w).view({B, L, H, w}).transpose(1, 2).to(at::kFloat);  // (B, H, L, w)
  };
  Projected p;
  p.q = heads(0, dqk_);
  p.k = heads(H * dqk_, dqk_);
  p.v = heads(2 * H * dqk_, dv_);
  Fp32Scope fp32;
  if (lc_.position == "rope") {
    p.q = apply_rope(p.q, pos_offset, 10000.0);
    p.k = apply_rope(p.k, pos_offset, 10000.0);
  }
  p.phi_q = phi_q_->forward(p.q, true);
  p.phi_k = phi_k_->forward(p.k, false);
  return p;
}

at::Tensor LinearAttentionMixer::attention_weights(const Projected& p, bool causal) const {
  at::Tensor A = at::matmul(p.phi_q, p.phi_k.transpose(-2, -1));
  if (causal) A = A.tril();
  return A / (A.sum(-1, true) + opt_.eps);
}

at::Tensor LinearAttentionMixer::attend(const Projected& p, bool causal) const {
  LinearAttentionOptions lo;
  lo.causal = causal, lo.chunk = opt_.chunk, lo.eps = opt_.eps;
  return linear_attention(p.phi_q, p.phi_k, p.v, lo);
}

at::Tensor LinearAttentionMixer::output(const at::Tensor& y, const at::Tensor& x) const {
  const int64_t B = y.size(0), L = y.size(2);
  return out_->forward(y.transpose(1, 2).reshape({B, L, opt_.n_heads * dv_}).to(x.scalar_type()));
}

at::Tensor LinearAttentionMixer::forward(const at::Tensor& x, ForwardContext& ctx) {
  if (is_training() && opt_.redraw_every > 0 && opt_.feature_map == "performer" && forwards_++ % opt_.redraw_every == 0)
    static_cast<PerformerMap&>(*phi_q_).redraw();
  Projected p = project(x, ctx.pos_offset);
  // Padded keys contribute nothing: zero their features (exact, causal or not).
  if (ctx.key_padding.defined()) p.phi_k = p.phi_k * ctx.key_padding.view({x.size(0), 1, x.size(1), 1}).to(p.phi_k.scalar_type());
  at::Tensor y;
  {
    Fp32Scope fp32;
    if (distill_) {
      at::Tensor teacher;
      {
        at::NoGradGuard ng;
        const int64_t L = x.size(1);
        at::Tensor scores = at::matmul(p.q * (1.0 / std::sqrt(static_cast<double>(dqk_))), p.k.transpose(-2, -1));
        if (ctx.causal) scores = scores.masked_fill(at::ones({L, L}, scores.options().dtype(at::kBool)).triu(1),
                                                    -std::numeric_limits<float>::infinity());
        teacher = at::softmax(scores, -1);
      }
      at::Tensor student = attention_weights(p, ctx.causal);
      ctx.aux_losses["attn_distill." + std::to_string(lc_.layer_index)] =
          -(teacher * at::log(student + 1e-9)).sum(-1).mean();
      y = at::matmul(teacher, p.v);
    } else {
      y = attend(p, ctx.causal);
    }
  }
  return output(y, x);
}

std::unique_ptr<MixerState> LinearAttentionMixer::new_state() const { return std::make_unique<LinearState>(); }

at::Tensor LinearAttentionMixer::step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) {
  auto& st = dynamic_cast<LinearState&>(state);
  Projected p = project(x, ctx.pos_offset);
  LinearAttentionOptions lo;
  lo.chunk = opt_.chunk, lo.eps = opt_.eps;
  at::Tensor y;
  {
    Fp32Scope fp32;
    y = linear_attention_step(p.phi_q, p.phi_k, p.v, st.s, lo);
  }
  return output(y, x);
}

MixerCapabilities LinearAttentionMixer::capabilities() const {
  MixerCapabilities c;
  c.recurrent_step = true;  // (S, z) per head
  return c;
}

double LinearAttentionMixer::flops_per_token(int64_t seq_len) const {
  const double d = static_cast<double>(lc_.d_model), H = static_cast<double>(opt_.n_heads);
  const double F = static_cast<double>(phi_q_->dim()), C = static_cast<double>(std::min(opt_.chunk, seq_len));
  double proj = 2.0 * (d * H * (2 * dqk_ + dv_) + H * dv_ * d);
  if (opt_.feature_map == "hedgehog" || opt_.feature_map == "performer") proj += 2.0 * 2.0 * H * dqk_ * F / 2.0;
  return proj + 2.0 * H * (C / 2.0 * (F + dv_) + 2.0 * F * dv_);
}

static const bool kRegistered = MixerRegistry::add<LinearAttentionMixerOptions>(
    "linear_attention",
    "causal/bidirectional linear attention with a feature map (hedgehog | elu | relu | performer | taylor), chunked "
    "fused kernel, O(1)-per-token recurrent decoding",
    [](const LinearAttentionMixerOptions& o, const LayerContext& c) {
      return std::make_shared<LinearAttentionMixer>(o, c);
    });

}  // namespace lmforge
