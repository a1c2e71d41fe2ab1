// One residual block built from a BlockSpec:
//   pre-norm:  h = x + drop(mixer(norm1(x)));  y = h + drop(ffn(norm2(h)))
//   post-norm: h = norm1(x + drop(mixer(x)));  y = norm2(h + drop(ffn(h)))   (original BERT)
// MEFT (models/meft.h) may add adapters: on the mixer output (a -> a + adapter(a), "meft_attn"),
// in parallel to the feed-forward (ffn(h) + adapter(h), "meft_ffn"), and a free-standing one used
// as a coupling function of the reversible stack ("meft_rev").
#pragma once
#include "lmforge/models/model_config.h"
#include "lmforge/nn/adapter.h"
#include "lmforge/nn/components.h"

namespace lmforge {

class Block : public torch::nn::Module {
 public:
  Block(const BlockSpec& spec, const LayerContext& ctx);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx);
  // Decoding: the mixer uses its state (KV cache or recurrence).
  at::Tensor step(const at::Tensor& x, MixerState& state, ForwardContext& ctx);
  double flops_per_token(int64_t seq_len) const;
  // The two halves of forward(): x -> h (mixer sub-block), h -> y (feed-forward sub-block).
  at::Tensor mixer_half(const at::Tensor& x, ForwardContext& ctx);
  at::Tensor ffn_half(const at::Tensor& h, ForwardContext& ctx);
  // forward() at some rows only: x (B, L, D) (or unpadded (1, nnz, D)) -> (1, n, D), the rows
  // `rows` of forward()'s output flattened to (B L, D). The mixer reads every row; its output,
  // the residual, the norms and the feed-forward run on the n rows (MosaicBERT's last layer).
  // Needs row-wise norms and feed-forwards (layernorm / rmsnorm; not PowerNorm's batch statistics).
  at::Tensor forward_rows(const at::Tensor& x, ForwardContext& ctx, const at::Tensor& rows);
  // MEFT adapters of width r (see above); each flag adds one.
  void add_meft_adapters(bool attn, bool ffn, bool rev, int64_t r, double dropout);
  BottleneckAdapter* meft_rev() const { return meft_rev_.get(); }
  Mixer& mixer() { return *mixer_; }
  const Mixer& mixer() const { return *mixer_; }

 private:
  template <class MixFn>
  at::Tensor mix_half(const at::Tensor& x, ForwardContext& ctx, MixFn mix);
  bool post_norm_;
  double dropout_;
  int64_t d_model_;
  std::shared_ptr<Norm> norm1_, norm2_;
  std::shared_ptr<Mixer> mixer_;
  std::shared_ptr<FeedForward> ffn_;
  std::shared_ptr<BottleneckAdapter> meft_attn_, meft_ffn_, meft_rev_;
};

}  // namespace lmforge
