// What every layer is built from (LayerContext) and what flows beside the activations in a
// forward pass (ForwardContext).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include <ATen/ATen.h>

namespace lmforge {

// Model-wide facts a component needs at construction.
struct LayerContext {
  int64_t d_model = 256;
  int64_t max_seq_len = 256;
  int64_t layer_index = 0;
  int64_t n_layers = 1;
  double dropout = 0.0;
  double init_std = 0.02;
  std::string position = "rope";  // learned | rope | alibi | none (rope/alibi live in attention)
  bool causal = true;             // decoder (true) or bidirectional encoder (false)
};

// Per-forward information shared by the layers of one model.
struct ForwardContext {
  bool causal = true;
  bool training = false;
  int64_t pos_offset = 0;  // absolute position of the first input token (decoding with a cache)
  at::Tensor key_padding;  // (B, L) bool, true = real token; undefined = no padding
  at::Tensor segments;     // (B, L) int64 token types (encoders with model.type_vocab_size > 0)
  // Auxiliary losses added to the objective (MoE load balancing, ...), summed by the trainer.
  std::map<std::string, at::Tensor> aux_losses;
  // Values carried from one layer to the next (e.g. MomentumSMoE's momentum).
  std::map<std::string, at::Tensor> carry;
};

// Which of the T tokens a layer sees are real: key_padding as a (T) mask, or undefined when all
// are (no padding, or an unpadded batch: SequenceClassifier packs the real tokens and leaves
// key_padding at its (B, L) shape for attention to pad back with, marked by carry["unpad_index"]).
// For layers that pool statistics over tokens (MoE balance and capacity, PowerNorm).
inline at::Tensor real_token_mask(const ForwardContext& ctx, int64_t T) {
  if (!ctx.key_padding.defined() || ctx.carry.count("unpad_index")) return at::Tensor();
  return ctx.key_padding.reshape({T});
}

}  // namespace lmforge
