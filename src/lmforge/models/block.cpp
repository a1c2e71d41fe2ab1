#include "lmforge/models/block.h"

namespace lmforge {

static const toml::table& options_for(const BlockSpec& b, const std::string& name) {
  static const toml::table kEmpty;
  const toml::node* n = b.options.get(name);
  return n ? *n->as_table() : kEmpty;
}

Block::Block(const BlockSpec& spec, const LayerContext& ctx)
    : post_norm_(spec.norm_position == "post"), dropout_(ctx.dropout), d_model_(ctx.d_model) {
  const std::string& p = spec.path;
  norm1_ = register_module("norm1", NormRegistry::at(spec.norm, p + ".norm").build(options_for(spec, spec.norm), p + "." + spec.norm, ctx));
  mixer_ = register_module("mixer", MixerRegistry::at(spec.mixer, p + ".mixer").build(options_for(spec, spec.mixer), p + "." + spec.mixer, ctx));
  if (spec.ffn != "none") {
    norm2_ = register_module("norm2", NormRegistry::at(spec.norm, p + ".norm").build(options_for(spec, spec.norm), p + "." + spec.norm, ctx));
    ffn_ = register_module("ffn", FfnRegistry::at(spec.ffn, p + ".ffn").build(options_for(spec, spec.ffn), p + "." + spec.ffn, ctx));
  }
}

template <class MixFn>
at::Tensor Block::mix_half(const at::Tensor& x, ForwardContext& ctx, MixFn mix) {
  auto branch = [&](const at::Tensor& in) {
    at::Tensor a = mix(in);
    if (meft_attn_) a = a + meft_attn_->forward(a);
    return dropout_ > 0 && is_training() ? at::dropout(a, dropout_, true) : a;
  };
  return post_norm_ ? norm1_->forward(x + branch(x), ctx) : x + branch(norm1_->forward(x, ctx));
}

at::Tensor Block::ffn_half(const at::Tensor& h, ForwardContext& ctx) {
  if (!ffn_) return h;
  auto branch = [&](const at::Tensor& in) {
    at::Tensor f = ffn_->forward(in, ctx);
    if (dropout_ > 0 && is_training()) f = at::dropout(f, dropout_, true);
    return meft_ffn_ ? f + meft_ffn_->forward(in) : f;
  };
  return post_norm_ ? norm2_->forward(h + branch(h), ctx) : h + branch(norm2_->forward(h, ctx));
}

at::Tensor Block::mixer_half(const at::Tensor& x, ForwardContext& ctx) {
  return mix_half(x, ctx, [&](const at::Tensor& t) { return mixer_->forward(t, ctx); });
}

at::Tensor Block::forward(const at::Tensor& x, ForwardContext& ctx) { return ffn_half(mixer_half(x, ctx), ctx); }

at::Tensor Block::forward_rows(const at::Tensor& x, ForwardContext& ctx, const at::Tensor& rows) {
  at::Tensor x_rows = x.reshape({-1, x.size(-1)}).index_select(0, rows).unsqueeze(0);  // (1, n, D)
  // The n rows are real tokens taken out of their sequences: the norms and the feed-forward see
  // them without padding facts (row-wise components give the full forward's values at those rows).
  ForwardContext rctx;
  rctx.causal = ctx.causal, rctx.training = ctx.training, rctx.pos_offset = ctx.pos_offset;
  auto mix = [&](const at::Tensor& in) {
    at::Tensor a = mixer_->forward_rows(in, ctx, rows).unsqueeze(0);
    if (meft_attn_) a = a + meft_attn_->forward(a);
    return dropout_ > 0 && is_training() ? at::dropout(a, dropout_, true) : a;
  };
  at::Tensor h = post_norm_ ? norm1_->forward(x_rows + mix(x), rctx) : x_rows + mix(norm1_->forward(x, ctx));
  at::Tensor y = ffn_half(h, rctx);
  for (auto& [k, v] : rctx.aux_losses) ctx.aux_losses[k] = v;  // a MoE's balance loss, over the rows
  return y;
}

at::Tensor Block::step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) {
  return ffn_half(mix_half(x, ctx, [&](const at::Tensor& t) { return mixer_->step(t, state, ctx); }), ctx);
}

void Block::add_meft_adapters(bool attn, bool ffn, bool rev, int64_t r, double dropout) {
  // Registered only when asked for, so a model without MEFT keeps its parameter names.
  if (attn) meft_attn_ = register_module("meft_attn", std::make_shared<BottleneckAdapter>(d_model_, r, "gelu", dropout));
  if (ffn) meft_ffn_ = register_module("meft_ffn", std::make_shared<BottleneckAdapter>(d_model_, r, "gelu", dropout));
  if (rev) meft_rev_ = register_module("meft_rev", std::make_shared<BottleneckAdapter>(d_model_, r, "gelu", dropout));
}

double Block::flops_per_token(int64_t seq_len) const {
  return mixer_->flops_per_token(seq_len) + (ffn_ ? ffn_->flops_per_token() : 0.0);
}

}  // namespace lmforge
