#include "lmforge/models/language_model.h"

#include <torch/nn/modules/container/modulelist.h>

#include "lmforge/nn/dense.h"
#include "lmforge/ops/linear_xent/op.h"

namespace lmforge {

LanguageModel::LanguageModel(const ModelConfig& cfg) : cfg_(cfg) {
  LMF_REQUIRE(cfg.vocab_size > 0, ConfigError, "model.vocab_size is not set (no tokenizer or task gave one)");
  torch::NoGradGuard ng;
  embed_ = register_module("embed", std::make_shared<Table>(cfg.vocab_size, cfg.d_model, cfg.init_std))->weight;
  if (cfg.position == "learned")
    pos_embed_ = register_module("pos_embed", std::make_shared<Table>(cfg.max_seq_len, cfg.d_model, 0.01))->weight;
  if (cfg.type_vocab_size > 0)
    type_embed_ = register_module("type_embed", std::make_shared<Table>(cfg.type_vocab_size, cfg.d_model, cfg.init_std))->weight;
  if (cfg.embed_norm) {
    LayerContext lc;
    lc.d_model = cfg.d_model;
    const BlockSpec& first = cfg.layers.front();
    const toml::node* o = first.options.get(first.norm);
    static const toml::table kEmpty;
    embed_norm_ = register_module(
        "embed_norm", NormRegistry::at(first.norm, first.path).build(o ? *o->as_table() : kEmpty, first.path, lc));
  }
  auto list = torch::nn::ModuleList();
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    LayerContext lc;
    lc.d_model = cfg.d_model;
    lc.max_seq_len = cfg.max_seq_len;
    lc.layer_index = static_cast<int64_t>(i);
    lc.n_layers = cfg.n_layers;
    lc.dropout = cfg.dropout;
    lc.init_std = cfg.init_std;
    lc.position = cfg.position;
    lc.causal = cfg.kind == "decoder";
    auto b = std::make_shared<Block>(cfg.layers[i], lc);
    blocks_.push_back(b);
    list->push_back(b);
  }
  register_module("layers", list);
  if (cfg.final_norm) {
    LayerContext lc;
    lc.d_model = cfg.d_model;
    const BlockSpec& last = cfg.layers.back();
    const toml::node* o = last.options.get(last.norm);
    static const toml::table kEmpty;
    final_norm_ = register_module(
        "final_norm", NormRegistry::at(last.norm, last.path).build(o ? *o->as_table() : kEmpty, last.path, lc));
  }
  if (!cfg.tie_embeddings)
    lm_head_ = register_module("lm_head", std::make_shared<Table>(cfg.vocab_size, cfg.d_model, cfg.init_std))->weight;
  if (cfg.hmt.enabled) {
    validate_hmt_config(cfg.hmt, cfg.max_seq_len, cfg.kind, "model.hmt");
    hmt_ = register_module("hmt", std::make_shared<HmtMemory>(cfg.hmt, cfg.d_model, cfg.init_std));
  }
  if (cfg.head_transform) head_ = register_module("head_transform", std::make_shared<MlmHeadTransform>(cfg));
  if (cfg.head_bias) head_bias_ = register_parameter("head_bias", at::zeros({cfg.vocab_size}));
}

at::Tensor LanguageModel::embed(const at::Tensor& tokens, const ForwardContext& ctx) {
  LMF_REQUIRE(tokens.dim() == 2, UserError, "model input must be (batch, length), got ", tokens.sizes());
  return embed_rest(at::embedding(embed_, tokens), ctx);
}

at::Tensor LanguageModel::embed_rest(at::Tensor x, const ForwardContext& ctx) {
  const int64_t pos_offset = ctx.pos_offset;
  const at::Tensor& segments = ctx.segments;
  auto pit = ctx.carry.find("unpad_positions");
  const at::Tensor positions = pit != ctx.carry.end() ? pit->second : at::Tensor();
  if (pos_embed_.defined() && positions.defined()) {
    x = x + at::embedding(pos_embed_, positions);  // unpadded input: each token's position in its sequence
  } else if (pos_embed_.defined()) {
    const int64_t L = x.size(1);
    LMF_REQUIRE(pos_offset + L <= cfg_.max_seq_len, UserError, "sequence of ", pos_offset + L,
                " tokens is longer than model.max_seq_len = ", cfg_.max_seq_len, " (learned positions)");
    x = x + pos_embed_.narrow(0, pos_offset, L);
  }
  if (type_embed_.defined()) x = x + (segments.defined() ? at::embedding(type_embed_, segments) : type_embed_[0]);
  if (embed_norm_) {
    // Its own context (no aux losses or carried state from the layers), with the padding facts.
    ForwardContext nctx;
    nctx.training = ctx.training;
    nctx.key_padding = ctx.key_padding;
    if (auto it = ctx.carry.find("unpad_index"); it != ctx.carry.end()) nctx.carry["unpad_index"] = it->second;
    x = embed_norm_->forward(x, nctx);
  }
  if (cfg_.dropout > 0 && is_training()) x = at::dropout(x, cfg_.dropout, true);
  return x;
}

at::Tensor LanguageModel::hidden(const at::Tensor& tokens, ForwardContext& ctx) {
  if (hmt_) return hmt_->forward(*this, tokens, ctx);
  ctx.causal = cfg_.kind == "decoder";
  ctx.training = is_training();
  return stack(embed(tokens, ctx), ctx);
}

at::Tensor LanguageModel::hidden_from_embeddings(const at::Tensor& token_embeds, ForwardContext& ctx) {
  ctx.causal = cfg_.kind == "decoder";
  ctx.training = is_training();
  return stack(embed_rest(token_embeds, ctx), ctx);
}

at::Tensor LanguageModel::stack(at::Tensor x, ForwardContext& ctx) {
  if (rev_) x = rev_->forward(x, ctx);
  else
    for (auto& b : blocks_) x = b->forward(x, ctx);
  return final_norm_ ? final_norm_->forward(x, ctx) : x;
}

at::Tensor LanguageModel::hidden_rows(const at::Tensor& tokens, ForwardContext& ctx, const at::Tensor& rows) {
  LMF_REQUIRE(!rev_, UserError, "a MEFT (reversible) model cannot run its last layer on a subset of rows");
  LMF_REQUIRE(!hmt_, UserError, "an HMT model (model.hmt) cannot run its last layer on a subset of rows");
  ctx.causal = cfg_.kind == "decoder";
  ctx.training = is_training();
  at::Tensor x = embed(tokens, ctx);
  for (size_t i = 0; i + 1 < blocks_.size(); ++i) x = blocks_[i]->forward(x, ctx);
  // State carried from layer to layer (MomentumSMoE's momentum) is (B, L, D); the last layer here
  // sees n rows, and gathering the state is not what the method defines, so refuse it.
  for (const auto& [k, v] : ctx.carry)
    LMF_REQUIRE(k.rfind("unpad_", 0) == 0, UserError, "the last-layer subset (data.mlm.last_layer_subset) cannot ",
                "carry the layer state '", k, "' (MomentumSMoE); set data.mlm.last_layer_subset = false");
  x = blocks_.back()->forward_rows(x, ctx, rows);
  ForwardContext rctx;  // n independent rows: no padding facts
  rctx.training = ctx.training;
  if (final_norm_) x = final_norm_->forward(x, rctx);
  return x.squeeze(0);
}

at::Tensor LanguageModel::logits(const at::Tensor& h) const {
  return at::linear(head_ ? head_->forward(h) : h, output_weight(), head_bias_);
}

at::Tensor LanguageModel::loss_sum(const at::Tensor& hidden, const at::Tensor& targets) const {
  at::Tensor h = head_ ? head_->forward(hidden) : hidden;
  at::Tensor w = output_weight();
  if (head_bias_.defined()) {
    // The fused loss has no bias: a column of ones on h and the bias as a column of W give
    // h W^T + c exactly, and autograd routes the bias's gradient through the concatenation.
    h = at::cat({h, at::ones({h.size(0), 1}, h.options())}, 1);
    w = at::cat({w, head_bias_.unsqueeze(1).to(w.scalar_type())}, 1);
  }
  return linear_cross_entropy_sum(h, w, targets, -100);
}

std::vector<std::unique_ptr<MixerState>> LanguageModel::new_states() const {
  std::vector<std::unique_ptr<MixerState>> s;
  for (const auto& b : blocks_) s.push_back(b->mixer().new_state());
  return s;
}

at::Tensor LanguageModel::step(const at::Tensor& tokens, std::vector<std::unique_ptr<MixerState>>& states,
                               ForwardContext& ctx) {
  LMF_REQUIRE(!rev_, UserError, "a MEFT (reversible) model cannot decode step by step");
  LMF_REQUIRE(!hmt_, UserError, "an HMT model cannot decode step by step yet (its segments are scored whole)");
  ctx.causal = true;
  ctx.training = false;
  at::Tensor x = embed(tokens, ctx);
  for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->step(x, *states[i], ctx);
  return final_norm_ ? final_norm_->forward(x, ctx) : x;
}

int64_t LanguageModel::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

double LanguageModel::train_flops_per_token(int64_t seq_len) const {
  double f = 2.0 * cfg_.d_model * cfg_.vocab_size;  // output projection
  if (head_) f += head_->flops_per_token();
  for (const auto& b : blocks_) f += b->flops_per_token(seq_len);
  return 3.0 * f;
}

}  // namespace lmforge
