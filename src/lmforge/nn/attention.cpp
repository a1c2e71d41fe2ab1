#include "lmforge/nn/attention.h"

#include <cmath>

#include "lmforge/nn/positions.h"
#include "lmforge/ops/flash_attn/op.h"

namespace lmforge {

at::Tensor Attention::core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                           const at::Tensor& key_padding) const {
  const bool dropout = opt_.attn_dropout > 0 && is_training();
  // "auto": the flash kernel, except bf16 on AMX machines with a head width that is not a multiple
  // of 32 (no tile kernel: fp32 GEMMs) below 1024 keys, where ATen's bf16 matmuls (oneDNN on AMX
  // tiles) are faster (docs/BENCHMARKS.md, "Flash attention on CPU": fwd+bwd at 256 keys, d 64, fp32
  // GEMMs 8.5 ms against aten 5.2; the tile kernel 4.2).
  const Isa isa = active_isa();
  const bool amx_bf16 = q.scalar_type() == at::kBFloat16 && isa >= Isa::amx && !flash_attention_bf16_tiles(q.size(3), isa) &&
                        k.size(2) < 1024;
  const bool flash = opt_.core == "flash" || (opt_.core == "auto" && !amx_bf16);
  FlashAttentionOptions fo;
  fo.causal = causal, fo.window = opt_.window, fo.key_padding = key_padding;
  if (alibi_slopes_.defined()) fo.alibi_slopes = alibi_slopes_;
  // The ATen core is the op's oracle: the L x S scores, and the one path with dropout.
  return flash && !dropout ? flash_attention(q, k, v, fo) : flash_attention_ref(q, k, v, fo, opt_.attn_dropout, is_training());
}

Attention::Attention(const AttentionOptions& o, const LayerContext& c) : opt_(o), lc_(c) {
  LMF_REQUIRE(o.n_heads > 0, ConfigError, "attention.n_heads must be positive, got ", o.n_heads);
  LMF_REQUIRE(o.head_dim > 0 || c.d_model % o.n_heads == 0, ConfigError, "attention: d_model ", c.d_model,
              " is not divisible by n_heads ", o.n_heads, " (set head_dim)");
  LMF_REQUIRE(o.window >= 0, ConfigError, "attention.window must be >= 0");
  LMF_REQUIRE(o.core == "auto" || o.core == "flash" || o.core == "aten", ConfigError,
              "attention.core must be \"auto\", \"flash\" or \"aten\", got \"",
              o.core, "\"");
  dh_ = o.head_dim > 0 ? o.head_dim : c.d_model / o.n_heads;
  LMF_REQUIRE(c.position != "rope" || dh_ % 2 == 0, ConfigError, "rope needs an even head_dim, got ", dh_);
  const int64_t inner = dh_ * o.n_heads;
  qkv_ = register_module("qkv", std::make_shared<Dense>(c.d_model, 3 * inner, o.qkv_bias, c.init_std));
  // GPT-2's scaled init of the residual projections: std / sqrt(2 * n_layers).
  out_ = register_module("out", std::make_shared<Dense>(inner, c.d_model, o.out_bias,
                                                        c.init_std / std::sqrt(2.0 * c.n_layers)));
  if (c.position == "alibi") alibi_slopes_ = register_buffer("alibi_slopes", alibi_slopes(o.n_heads));
}

at::Tensor Attention::attend(const at::Tensor& x, const at::Tensor& k_past, const at::Tensor& v_past,
                             ForwardContext& ctx, at::Tensor* k_all, at::Tensor* v_all, const at::Tensor& rows) {
  // Unpadded input (MosaicBERT): x is (1, nnz, D), the real tokens of a (B, L) batch packed; the
  // projections run on nnz rows only and the attention core pads back to (B, L) (see unpad.h).
  auto up = ctx.carry.find("unpad_index");
  if (up != ctx.carry.end() && !k_past.defined()) {
    const at::Tensor& idx = up->second;
    const int64_t Bp = ctx.key_padding.size(0), Lp = ctx.key_padding.size(1), H = opt_.n_heads;
    at::Tensor packed = qkv_->forward(x.squeeze(0));  // (nnz, 3 H Dh)
    at::Tensor full = at::zeros({Bp * Lp, packed.size(1)}, packed.options()).index_copy(0, idx, packed);
    at::Tensor qkv = full.view({Bp, Lp, 3, H, dh_}).permute({2, 0, 3, 1, 4});
    at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    if (lc_.position == "rope") {
      q = apply_rope(q, 0, opt_.rope_base);
      k = apply_rope(k, 0, opt_.rope_base);
    }
    at::Tensor y = core(q, k, v, ctx.causal, ctx.key_padding);
    y = y.transpose(1, 2).reshape({Bp * Lp, H * dh_}).index_select(0, idx);
    if (rows.defined()) return out_->forward(y.index_select(0, rows));
    return out_->forward(y).unsqueeze(0);
  }
  const int64_t B = x.size(0), L = x.size(1), H = opt_.n_heads;
  at::Tensor qkv = qkv_->forward(x).view({B, L, 3, H, dh_}).permute({2, 0, 3, 1, 4});  // (3, B, H, L, Dh)
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  if (lc_.position == "rope") {
    q = apply_rope(q, ctx.pos_offset, opt_.rope_base);
    k = apply_rope(k, ctx.pos_offset, opt_.rope_base);
  }
  if (k_past.defined()) {
    k = at::cat({k_past, k}, 2);
    v = at::cat({v_past, v}, 2);
  }
  if (k_all) *k_all = k, *v_all = v;
  at::Tensor y = core(q, k, v, ctx.causal, ctx.key_padding);
  // MosaicBERT's last layer: every query's attention (as its bert_layers.py computes it; the core is
  // a small share of the layer at L = 128), the output projection on the wanted rows only.
  if (rows.defined()) return out_->forward(y.transpose(1, 2).reshape({B * L, H * dh_}).index_select(0, rows));
  return out_->forward(y.transpose(1, 2).reshape({B, L, H * dh_}));
}

at::Tensor Attention::forward_rows(const at::Tensor& x, ForwardContext& ctx, const at::Tensor& rows) {
  return attend(x, at::Tensor(), at::Tensor(), ctx, nullptr, nullptr, rows);
}

at::Tensor Attention::forward(const at::Tensor& x, ForwardContext& ctx) {
  return attend(x, at::Tensor(), at::Tensor(), ctx, nullptr, nullptr);
}

namespace {
struct KvCache : MixerState {
  at::Tensor k, v;  // (B, H, S, Dh)
  void select_rows(const at::Tensor& rows) override {
    k = select_state_rows(k, rows);
    v = select_state_rows(v, rows);
  }
};
}  // namespace

std::unique_ptr<MixerState> Attention::new_state() const { return std::make_unique<KvCache>(); }

at::Tensor Attention::step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) {
  auto& c = dynamic_cast<KvCache&>(state);
  at::Tensor k, v;
  at::Tensor y = attend(x, c.k, c.v, ctx, &k, &v);
  if (opt_.window > 0 && k.size(2) > opt_.window) {  // a local layer only ever needs the last window
    k = k.narrow(2, k.size(2) - opt_.window, opt_.window);
    v = v.narrow(2, v.size(2) - opt_.window, opt_.window);
  }
  c.k = k.contiguous(), c.v = v.contiguous();
  return y;
}

MixerCapabilities Attention::capabilities() const {
  MixerCapabilities c;
  c.unpadding = true;  // attend() pads the packed projections back to (B, L) for the core
  c.kv_cache = true;
  // linear_attention has no window and no ALiBi, and rotates with base 10000 only.
  c.linear_conversion = opt_.window == 0 && lc_.position != "alibi" && (lc_.position != "rope" || opt_.rope_base == 10000.0);
  return c;
}

double Attention::flops_per_token(int64_t seq_len) const {
  const double inner = static_cast<double>(dh_ * opt_.n_heads), d = static_cast<double>(lc_.d_model);
  double keys = opt_.window > 0 ? std::min<double>(opt_.window, seq_len) : seq_len;
  if (lc_.causal && opt_.window == 0) keys = (seq_len + 1) / 2.0;  // average visible keys
  return 2.0 * (3 * d * inner + inner * d) + 2.0 * 2.0 * keys * inner;
}

static const bool kRegistered = MixerRegistry::add<AttentionOptions>(
    "attention", "softmax multi-head attention (causal in decoders), KV cache, optional sliding window",
    [](const AttentionOptions& o, const LayerContext& c) { return std::make_shared<Attention>(o, c); });

}  // namespace lmforge
