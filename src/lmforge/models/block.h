// One residual block built from a BlockSpec:
//   pre-norm:  h = x + drop(mixer(norm1(x)));  y = h + drop(ffn(norm2(h)))
//   post-norm: h = norm1(x + drop(mixer(x)));  y = norm2(h + drop(ffn(h)))   (original BERT)
#pragma once
#include "lmforge/models/model_config.h"
#include "lmforge/nn/components.h"

namespace lmforge {

class Block : public torch::nn::Module {
 public:
  Block(const BlockSpec& spec, const LayerContext& ctx);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx);
  // Decoding: the mixer uses its state (KV cache or recurrence).
  at::Tensor step(const at::Tensor& x, MixerState& state, ForwardContext& ctx);
  double flops_per_token(int64_t seq_len) const;
  Mixer& mixer() { return *mixer_; }
  const Mixer& mixer() const { return *mixer_; }

 private:
  template <class MixFn>
  at::Tensor run(const at::Tensor& x, ForwardContext& ctx, MixFn mix);
  bool post_norm_;
  double dropout_;
  std::shared_ptr<Norm> norm1_, norm2_;
  std::shared_ptr<Mixer> mixer_;
  std::shared_ptr<FeedForward> ffn_;
};

}  // namespace lmforge
