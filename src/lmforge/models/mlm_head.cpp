// BERT's MLM head transform; see mlm_head.h.
#include "lmforge/models/mlm_head.h"

#include "lmforge/ops/activation.h"

namespace lmforge {

MlmHeadTransform::MlmHeadTransform(const ModelConfig& cfg) : activation_(cfg.head_activation) {
  check_activation(cfg.head_activation, "model.head_activation");
  dense_ = register_module("dense", std::make_shared<Dense>(cfg.d_model, cfg.d_model, true, cfg.init_std));
  static const toml::table kEmpty;
  const BlockSpec& last = cfg.layers.back();
  const toml::node* o = last.norm == "layernorm" ? last.options.get("layernorm") : nullptr;
  LayerContext lc;
  lc.d_model = cfg.d_model;
  const std::string where = last.path + ".layernorm";
  norm_ = register_module("norm", NormRegistry::at("layernorm", where).build(o ? *o->as_table() : kEmpty, where, lc));
}

at::Tensor MlmHeadTransform::forward(const at::Tensor& h) const {
  ForwardContext ctx;  // LayerNorm reads nothing from it
  return norm_->forward(activation(dense_->forward(h), activation_), ctx);
}

}  // namespace lmforge
