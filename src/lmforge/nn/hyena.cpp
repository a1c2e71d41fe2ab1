// The Hyena mixer (see hyena.h for the formulas and the paper). Initialisation follows safari:
// in_proj / out_proj like the other mixers here (normal(init_std), out_proj scaled by
// 1/sqrt(2 n_layers)); the short conv with PyTorch's default uniform +-1/sqrt(fan_in); the filter
// MLP N(0, filter_init_std^2) with zero biases, which is what safari's models end with (their
// _init_weights re-initialises every nn.Linear, the filter's too); skip biases ~ N(0, 1);
// positional features and decays as in safari's PositionalEmbedding and ExponentialModulation.
#include "lmforge/nn/hyena.h"

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/ops/fftconv/op.h"
#include "lmforge/ops/shortconv/op.h"

namespace lmforge {
namespace {

void uniform_init(at::Tensor& t, int64_t fan_in) {
  torch::NoGradGuard g;
  const double b = 1.0 / std::sqrt(static_cast<double>(fan_in));
  t.uniform_(-b, b);
}

}  // namespace

Hyena::Hyena(const HyenaOptions& o, const LayerContext& c) : opt_(o), lc_(c) {
  LMF_REQUIRE(o.order >= 2, ConfigError, "hyena.order must be >= 2, got ", o.order);
  LMF_REQUIRE(o.emb_dim >= 3 && o.emb_dim % 2 == 1, ConfigError, "hyena.emb_dim must be odd and >= 3, got ", o.emb_dim);
  LMF_REQUIRE(o.filter_order >= 1, ConfigError, "hyena.filter_order must be >= 1");
  LMF_REQUIRE(o.short_filter >= 1, ConfigError, "hyena.short_filter must be >= 1");
  LMF_REQUIRE(o.decay_fast > 0 && o.decay_slow > 0 && o.decay_target > 0 && o.decay_target < 1, ConfigError,
              "hyena: decay_fast, decay_slow > 0 and 0 < decay_target < 1 expected");
  LMF_REQUIRE(o.filter_lr_scale >= 0 && o.filter_weight_decay >= 0 && o.pos_emb_lr_scale >= 0, ConfigError,
              "hyena: filter_lr_scale, filter_weight_decay and pos_emb_lr_scale must be >= 0");
  LMF_REQUIRE(o.partial >= 0, ConfigError, "hyena.partial must be >= 0 (0 = full-length filters), got ", o.partial);
  LMF_REQUIRE(o.freq_sparsity >= 0 && o.freq_sparsity < 1, ConfigError, "hyena.freq_sparsity must be in [0, 1), got ",
              o.freq_sparsity);
  LMF_REQUIRE(c.causal, ConfigError, "hyena is a causal mixer; it cannot be used in a bidirectional encoder");
  const int64_t D = c.d_model, N = o.order, W = o.filter_order, Lmax = c.max_seq_len;
  in_proj_ = register_module("in_proj", std::make_shared<Dense>(D, (N + 1) * D, true, c.init_std));
  out_proj_ = register_module("out_proj", std::make_shared<Dense>(D, D, true, c.init_std / std::sqrt(2.0 * c.n_layers)));
  short_w_ = register_parameter("short_filter_weight", at::empty({(N + 1) * D, 1, o.short_filter}));
  short_b_ = register_parameter("short_filter_bias", at::empty({(N + 1) * D}));
  uniform_init(short_w_, o.short_filter);
  uniform_init(short_b_, o.short_filter);
  // Implicit filter MLP: emb_dim -> W -> sin -> W -> sin -> W -> sin -> (N-1) D (no bias).
  const std::vector<std::pair<int64_t, int64_t>> dims = {{o.emb_dim, W}, {W, W}, {W, W}, {W, (N - 1) * D}};
  for (size_t i = 0; i < dims.size(); ++i) {
    bool last = i + 1 == dims.size();
    auto d = register_module("filter_mlp" + std::to_string(i),
                             std::make_shared<Dense>(dims[i].first, dims[i].second, !last, o.filter_init_std));
    if (o.filter_init_std <= 0) {
      uniform_init(d->weight, dims[i].first);
      if (!last) uniform_init(d->bias, dims[i].first);
    }
    mlp_.push_back(d);
  }
  sine_w_ = register_parameter("filter_sine_freq", at::full({W}, o.sine_freq));
  filter_bias_ = register_parameter("filter_bias", at::randn({(N - 1) * D}));
  // Positional features (safari PositionalEmbedding): t in [0, 1], and bands f_k in
  // linspace(1e-4, bands - 1, bands) of exp(-i f_k 2 pi t' / Lmax), t' = 0 .. Lmax-1.
  const int64_t bands = (o.emb_dim - 1) / 2;
  at::Tensor t = at::linspace(0, 1, Lmax, at::kDouble).unsqueeze(1);
  at::Tensor w = 2 * M_PI * at::arange(Lmax, at::kDouble).unsqueeze(1) / static_cast<double>(Lmax);
  at::Tensor f = at::linspace(1e-4, static_cast<double>(bands - 1), bands, at::kDouble).unsqueeze(0);
  pos_z_ = register_parameter("filter_pos_z", at::cat({t, at::cos(f * w), -at::sin(f * w)}, 1).to(at::kFloat),
                              /*requires_grad=*/o.pos_emb_lr_scale > 0);
  pos_t_ = register_buffer("filter_pos_t", t.to(at::kFloat));
  // Exponential modulation (safari ExponentialModulation): |delta| from ln(target)/slow to ln(target)/fast.
  const double lo = std::abs(std::log(o.decay_target) / o.decay_slow), hi = std::abs(std::log(o.decay_target) / o.decay_fast);
  decay_ = register_buffer("filter_decay", at::linspace(lo, hi, (N - 1) * D, at::kFloat));
}

at::Tensor Hyena::filters(int64_t L) const {
  LMF_REQUIRE(L <= pos_z_.size(0), UserError, "hyena: sequence length ", L, " exceeds model.max_seq_len ",
              pos_z_.size(0));
  at::Tensor h = pos_z_.narrow(0, 0, L);
  for (size_t i = 0; i < mlp_.size(); ++i) {
    h = mlp_[i]->forward(h);
    if (i + 1 < mlp_.size()) h = at::sin(sine_w_ * h);
  }
  if (opt_.modulate) h = h * at::exp(-pos_t_.narrow(0, 0, L) * decay_);
  // (L, (N-1) D) -> (N-1, D, L)
  return h.t().reshape({opt_.order - 1, lc_.d_model, L});
}

at::Tensor Hyena::forward(const at::Tensor& x, ForwardContext& ctx) {
  const int64_t L = x.size(1), D = lc_.d_model, N = opt_.order;
  at::Tensor z = in_proj_->forward(x);  // (B, L, (N+1) D)
  std::vector<at::Tensor> parts;         // x0 .. x_{N-1}, v; each (B, D, L)
  if (opt_.fused) {
    // one pass: short causal conv, transpose to channel-major and split into contiguous parts
    parts = short_conv_split(z, short_w_, short_b_, N + 1);
  } else {
    // depthwise causal conv: pad K-1 on the left (conv1d pads both sides; keep the first L)
    z = z.transpose(1, 2);
    z = at::conv1d(z, short_w_.to(z.scalar_type()), short_b_.to(z.scalar_type()), 1, opt_.short_filter - 1, 1,
                   z.size(1))
            .narrow(2, 0, L);
    parts = z.split(D, 1);
  }
  // Partial convolution: only the first Lk taps exist (taps of filters(L) and filters(Lk) agree:
  // the positional features are absolute), so the MLP and the filter FFT shrink with them.
  const int64_t Lk = opt_.partial > 0 ? std::min(opt_.partial, L) : L;
  FftConvOptions fo;
  fo.sparsity = opt_.freq_sparsity;
  at::Tensor k = filters(Lk), bias = skip_bias();
  at::Tensor v = parts[N];
  for (int64_t i = N - 1; i >= 1; --i) {
    const int64_t o = N - 1 - i;  // filter index (safari: enumerate(reversed(x[1:])))
    at::Tensor post = i == 1 && opt_.gated ? parts[0] : at::Tensor();
    at::Tensor pre = opt_.gated ? parts[i] : at::Tensor();
    v = opt_.fused ? fftconv(v, k[o], pre, post, bias[o], fo) : fftconv_ref(v, k[o], pre, post, bias[o], fo);
  }
  return out_proj_->forward(v.transpose(1, 2));
}

std::vector<ParamGroupHint> Hyena::param_group_hints() const {
  ParamGroupHint filter{"hyena.filter", {sine_w_}, opt_.filter_lr_scale, opt_.filter_weight_decay};
  for (const auto& d : mlp_) {
    filter.params.push_back(d->weight);
    if (d->bias.defined()) filter.params.push_back(d->bias);
  }
  std::vector<ParamGroupHint> out = {filter};
  if (pos_z_.requires_grad()) out.push_back({"hyena.pos_emb", {pos_z_}, opt_.pos_emb_lr_scale, 0.0});
  return out;
}

double Hyena::flops_per_token(int64_t L) const {
  const double D = static_cast<double>(lc_.d_model), N = static_cast<double>(opt_.order);
  const int64_t Lk = opt_.partial > 0 ? std::min(opt_.partial, L) : L;
  const double n_fft = static_cast<double>(fftconv_size(L, Lk));
  // projections, short conv, and per long conv: FFT + inverse (5 n log2 n each per 2 tokens of a
  // packed pair) plus gates and skip
  const double fft = 2.0 * 5.0 * n_fft * std::log2(n_fft) / (2.0 * L);
  return 2.0 * D * (N + 1) * D + 2.0 * D * D + 2.0 * opt_.short_filter * (N + 1) * D + (N - 1) * D * (fft + 6.0);
}

static const bool kRegistered = MixerRegistry::add<HyenaOptions>(
    "hyena", "Hyena operator: gated implicit long convolutions via FFT (order N >= 2)",
    [](const HyenaOptions& o, const LayerContext& c) { return std::make_shared<Hyena>(o, c); });

}  // namespace lmforge
