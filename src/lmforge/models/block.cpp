#include "lmforge/models/block.h"

namespace lmforge {

static const toml::table& options_for(const BlockSpec& b, const std::string& name) {
  static const toml::table kEmpty;
  const toml::node* n = b.options.get(name);
  return n ? *n->as_table() : kEmpty;
}

Block::Block(const BlockSpec& spec, const LayerContext& ctx)
    : post_norm_(spec.norm_position == "post"), dropout_(ctx.dropout) {
  const std::string& p = spec.path;
  norm1_ = register_module("norm1", NormRegistry::at(spec.norm, p + ".norm").build(options_for(spec, spec.norm), p + "." + spec.norm, ctx));
  mixer_ = register_module("mixer", MixerRegistry::at(spec.mixer, p + ".mixer").build(options_for(spec, spec.mixer), p + "." + spec.mixer, ctx));
  if (spec.ffn != "none") {
    norm2_ = register_module("norm2", NormRegistry::at(spec.norm, p + ".norm").build(options_for(spec, spec.norm), p + "." + spec.norm, ctx));
    ffn_ = register_module("ffn", FfnRegistry::at(spec.ffn, p + ".ffn").build(options_for(spec, spec.ffn), p + "." + spec.ffn, ctx));
  }
}

template <class MixFn>
at::Tensor Block::run(const at::Tensor& x, ForwardContext& ctx, MixFn mix) {
  auto drop = [&](const at::Tensor& t) { return dropout_ > 0 && is_training() ? at::dropout(t, dropout_, true) : t; };
  at::Tensor h;
  if (post_norm_) {
    h = norm1_->forward(x + drop(mix(x)), ctx);
    if (ffn_) h = norm2_->forward(h + drop(ffn_->forward(h, ctx)), ctx);
  } else {
    h = x + drop(mix(norm1_->forward(x, ctx)));
    if (ffn_) h = h + drop(ffn_->forward(norm2_->forward(h, ctx), ctx));
  }
  return h;
}

at::Tensor Block::forward(const at::Tensor& x, ForwardContext& ctx) {
  return run(x, ctx, [&](const at::Tensor& t) { return mixer_->forward(t, ctx); });
}

at::Tensor Block::step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) {
  return run(x, ctx, [&](const at::Tensor& t) { return mixer_->step(t, state, ctx); });
}

double Block::flops_per_token(int64_t seq_len) const {
  return mixer_->flops_per_token(seq_len) + (ffn_ ? ffn_->flops_per_token() : 0.0);
}

}  // namespace lmforge
