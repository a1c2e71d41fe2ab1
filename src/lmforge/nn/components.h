// The three kinds of block components: sequence mixers, norms and feed-forwards.
//
// A block is  x + mixer(norm1(x))  then  x + ffn(norm2(x))  (pre-norm; post-norm is an option of
// the block). Each kind has its own registry; a new component is one file that registers itself.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "lmforge/core/registry.h"
#include "lmforge/nn/context.h"

namespace lmforge {

// Per-layer decoding state (a KV cache, a recurrent state, ...).
struct MixerState {
  virtual ~MixerState() = default;
  // Keeps the batch rows `rows` (int64, indices into dim 0, repeats allowed), in that order: batched
  // generation drops finished rows, beam search follows each surviving hypothesis' parent.
  virtual void select_rows(const at::Tensor& rows) = 0;
};

// Row selection of a state tensor (undefined before the first step).
inline at::Tensor select_state_rows(const at::Tensor& t, const at::Tensor& rows) {
  return t.defined() ? t.index_select(0, rows.to(t.device())) : t;
}

// What a mixer supports beyond forward() (B, L, D) -> (B, L, D) and the default step(). Callers
// ask the built mixer instead of checking its name; each mixer states its own truthfully, as built
// with its options, and tests/nn/capabilities_test.cpp checks every registered one.
struct MixerCapabilities {
  // forward() takes unpadded input (MosaicBERT; SequenceClassifier::set_unpad): x (1, nnz, D) holds
  // the real tokens of a (B, L) batch packed row-major, ctx.carry["unpad_index"] their flat indices
  // and ctx.key_padding the (B, L) mask; the result equals the padded forward at the real tokens.
  bool unpadding = false;
  // step() keeps the keys and values of earlier tokens (a KV cache, trimmed to the window of a
  // local layer) instead of recomputing the history.
  bool kv_cache = false;
  // step() carries a fixed-size recurrent state: a token costs the same at any context length.
  bool recurrent_step = false;
  // Softmax attention over a fused [q | k | v] projection `qkv` and an output projection `out`,
  // with attention's options n_heads, head_dim, qkv_bias, out_bias: `lmforge convert` turns it into
  // linear_attention with the same weights, which in distillation mode reproduces it exactly.
  bool linear_conversion = false;
};

class Mixer : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "mixer";
  // x: (B, L, D) -> (B, L, D).
  virtual at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) = 0;

  // What this mixer supports (none of the above unless it says so).
  virtual MixerCapabilities capabilities() const { return {}; }

  // Incremental decoding: x holds the next tokens (B, L_new, D) and `state` what the earlier ones
  // left. The default keeps the whole input history and recomputes, so every mixer can generate;
  // mixers with a real cache (attention's KV cache, linear attention's recurrent state) override.
  virtual std::unique_ptr<MixerState> new_state() const;
  virtual at::Tensor step(const at::Tensor& x, MixerState& state, ForwardContext& ctx);

  // Multiply-adds * 2 per token at sequence length L, for MFU (forward only).
  virtual double flops_per_token(int64_t seq_len) const = 0;

  // The output at some rows only (MosaicBERT's last layer, where the MLM loss reads the masked rows):
  // x (B, L, D), or unpadded (1, nnz, D) -> (n, D), the rows of forward()'s output flattened to
  // (B L, D) (or (nnz, D)) at the indices `rows` (int64, n). The default computes every row and
  // gathers; attention runs its output projection on the n rows only.
  virtual at::Tensor forward_rows(const at::Tensor& x, ForwardContext& ctx, const at::Tensor& rows);
};

class Norm : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "norm";
  virtual at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) = 0;
};

class FeedForward : public torch::nn::Module {
 public:
  static constexpr const char* kKind = "ffn";
  virtual at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) = 0;
  virtual double flops_per_token() const = 0;
};

using MixerRegistry = Registry<Mixer, LayerContext>;
using NormRegistry = Registry<Norm, LayerContext>;
using FfnRegistry = Registry<FeedForward, LayerContext>;

}  // namespace lmforge
