// The language model: token embedding (+ learned positions), a stack of blocks, a final norm and
// the output projection (tied to the embedding or not). Decoder (causal, next-token LM) or
// encoder (bidirectional, for MLM and classification) by ModelConfig::kind.
#pragma once
#include <memory>
#include <vector>

#include "lmforge/models/block.h"
#include "lmforge/models/hmt.h"
#include "lmforge/models/mlm_head.h"
#include "lmforge/models/model_config.h"
#include "lmforge/models/reversible.h"

namespace lmforge {

class LanguageModel : public torch::nn::Module {
 public:
  explicit LanguageModel(const ModelConfig& cfg);

  // tokens (B, L) int64 -> hidden states (B, L, D) after the final norm (through HMT's segment
  // recurrence when model.hmt is enabled).
  at::Tensor hidden(const at::Tensor& tokens, ForwardContext& ctx);
  // The stack alone on given token embeddings (B, L, D): positions, types and the embedding norm
  // are added as for tokens, then the blocks and the final norm. HMT's backbone call.
  at::Tensor hidden_from_embeddings(const at::Tensor& token_embeds, ForwardContext& ctx);
  // The token embedding lookup alone: (B, L) -> (B, L, D).
  at::Tensor token_embeddings(const at::Tensor& tokens) const { return at::embedding(embed_, tokens); }
  // HMT's memory module, or null (model.hmt.enabled = false).
  HmtMemory* hmt() const { return hmt_.get(); }
  // hidden (..., D) -> logits (..., V): the head transform (if any), the output projection, its bias.
  at::Tensor logits(const at::Tensor& hidden) const;
  at::Tensor output_weight() const { return lm_head_.defined() ? lm_head_ : embed_; }
  at::Tensor output_bias() const { return head_bias_; }  // undefined unless model.head_bias
  // hidden (N, D), targets (N) -> the fp32 sum of the token cross-entropies over targets != -100,
  // through the whole head (fused: ops/linear_xent; no (N, V) logits in memory).
  at::Tensor loss_sum(const at::Tensor& hidden, const at::Tensor& targets) const;
  // hidden states at some positions only: the flat indices `rows` of (B L) -> (n, D). Every layer but
  // the last runs on all positions, the last one on the n rows (Block::forward_rows; MosaicBERT).
  at::Tensor hidden_rows(const at::Tensor& tokens, ForwardContext& ctx, const at::Tensor& rows);

  // Decoding with per-layer states: tokens (B, L_new); ctx.pos_offset = tokens already seen.
  std::vector<std::unique_ptr<MixerState>> new_states() const;
  at::Tensor step(const at::Tensor& tokens, std::vector<std::unique_ptr<MixerState>>& states, ForwardContext& ctx);

  const ModelConfig& config() const { return cfg_; }
  // Layer i's mixer, e.g. for what it supports (capabilities()).
  const Mixer& mixer(size_t layer) const { return blocks_.at(layer)->mixer(); }
  int64_t num_parameters() const;
  // The blocks, for PEFT (models/peft.h) to adapt.
  const std::vector<std::shared_ptr<Block>>& blocks() const { return blocks_; }
  // MEFT (models/meft.h): the blocks run as this reversible stack instead of one after another.
  void set_reversible(std::shared_ptr<ReversibleStack> r) { rev_ = std::move(r); }
  ReversibleStack* reversible() const { return rev_.get(); }
  // Training FLOPs per token (forward + backward = 3x forward), for MFU.
  double train_flops_per_token(int64_t seq_len) const;

  // Token (+ position, + type) embeddings and the embedding norm, from ctx: pos_offset, segments,
  // carry["unpad_positions"] ((1, nnz) per-token positions of unpadded input), and the padding
  // mask, which a norm with batch statistics (PowerNorm, BatchNorm) needs to leave pads out.
  // The input of the first block (public for MEFT's starting-point test).
  at::Tensor embed(const at::Tensor& tokens, const ForwardContext& ctx);

 private:
  // Positions, token types, the embedding norm and dropout on token embeddings x.
  at::Tensor embed_rest(at::Tensor x, const ForwardContext& ctx);
  // The blocks (or the reversible stack) and the final norm.
  at::Tensor stack(at::Tensor x, ForwardContext& ctx);
  ModelConfig cfg_;
  at::Tensor embed_, pos_embed_, type_embed_, lm_head_, head_bias_;
  std::shared_ptr<MlmHeadTransform> head_;
  std::shared_ptr<Norm> embed_norm_;
  std::vector<std::shared_ptr<Block>> blocks_;
  std::shared_ptr<ReversibleStack> rev_;
  std::shared_ptr<Norm> final_norm_;
  std::shared_ptr<HmtMemory> hmt_;
};

}  // namespace lmforge
