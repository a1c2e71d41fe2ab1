// BERT-style pooled classification head; see sequence_classifier.h.
#include "lmforge/models/sequence_classifier.h"

namespace lmforge {

SequenceClassifier::SequenceClassifier(std::shared_ptr<LanguageModel> backbone, int64_t num_outputs, double dropout)
    : backbone_(std::move(backbone)), n_out_(num_outputs), dropout_(dropout) {
  LMF_REQUIRE(backbone_->config().kind == "encoder", UserError,
              "sequence classification needs an encoder (model.kind = \"encoder\"), got a ", backbone_->config().kind);
  register_module("backbone", backbone_);
  const int64_t d = backbone_->config().d_model;
  const double std = backbone_->config().init_std;
  pooler_ = register_module("pooler", std::make_shared<Dense>(d, d, true, std));
  head_ = register_module("head", std::make_shared<Dense>(d, num_outputs, true, std));
  for (size_t i = 0; i < backbone_->config().layers.size(); ++i)
    unpad_ok_ = unpad_ok_ && backbone_->mixer(i).capabilities().unpadding;
}

at::Tensor SequenceClassifier::forward(const at::Tensor& ids, const at::Tensor& segments, const at::Tensor& key_padding) {
  ForwardContext ctx;
  ctx.training = is_training();
  return forward(ids, segments, key_padding, ctx);
}

at::Tensor SequenceClassifier::forward(const at::Tensor& ids, const at::Tensor& segments, const at::Tensor& key_padding,
                                       ForwardContext& ctx) {
  ctx.segments = segments;
  ctx.key_padding = key_padding;
  at::Tensor cls;
  if (unpad_ && key_padding.defined()) {
    const int64_t B = ids.size(0), L = ids.size(1);
    at::Tensor flat = key_padding.reshape({-1});
    at::Tensor idx = flat.nonzero().squeeze(1);  // real tokens, row-major
    ctx.carry["unpad_index"] = idx;
    ctx.carry["unpad_positions"] = (idx % L).unsqueeze(0);
    at::Tensor seg = segments.defined() ? segments.reshape({-1}).index_select(0, idx).unsqueeze(0) : at::Tensor();
    ctx.segments = seg;
    at::Tensor h = backbone_->hidden(ids.reshape({-1}).index_select(0, idx).unsqueeze(0), ctx).squeeze(0);
    // Position 0 of each row ([CLS]) sits at the row's offset in the packed order.
    at::Tensor lens = key_padding.sum(1);
    at::Tensor starts = at::cumsum(lens, 0) - lens;
    cls = h.index_select(0, starts);
    (void)B;
  } else {
    at::Tensor h = backbone_->hidden(ids, ctx);
    cls = h.select(1, 0);
  }
  at::Tensor pooled = at::tanh(pooler_->forward(cls));
  if (dropout_ > 0 && is_training()) pooled = at::dropout(pooled, dropout_, true);
  return head_->forward(pooled);
}

}  // namespace lmforge
