// Sequence classification / regression on an encoder (Devlin et al. 2019, BERT's fine-tuning head):
//   pooled = tanh(W_p h_[CLS] + b_p);  logits = W_c dropout(pooled) + b_c
// with num_outputs classes (cross-entropy) or one output (regression, MSE; STS-B).
// The backbone is any LanguageModel with model.kind = "encoder"; its MLM output projection is kept
// but unused. Parameter names: backbone.*, pooler.*, head.*.
#pragma once
#include <memory>

#include "lmforge/models/language_model.h"
#include "lmforge/nn/dense.h"

namespace lmforge {

class SequenceClassifier : public torch::nn::Module {
 public:
  SequenceClassifier(std::shared_ptr<LanguageModel> backbone, int64_t num_outputs, double dropout);
  // Unpadding (MosaicBERT, Portes et al. 2023): with a key_padding mask, embeddings, norms,
  // feed-forwards and the attention projections run on the nnz real tokens only, packed as
  // (1, nnz, D); attention pads q, k, v back to (B, L) and masks padded keys. Needs every mixer to
  // support it (MixerCapabilities::unpadding; otherwise the padded path runs). Same results as
  // padded, less compute.
  void set_unpad(bool on) { unpad_ = on && unpad_ok_; }
  bool unpad() const { return unpad_; }
  // ids, segments (B, L) int64; key_padding (B, L) bool (true = real token) or undefined.
  // Returns (B, num_outputs) logits (or scores).
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& segments, const at::Tensor& key_padding);
  // The same, with the caller's context: the auxiliary losses the backbone's layers add (MoE
  // balance, routing) stay in ctx.aux_losses for the training loop to add to the objective.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& segments, const at::Tensor& key_padding,
                     ForwardContext& ctx);
  LanguageModel& backbone() { return *backbone_; }
  int64_t num_outputs() const { return n_out_; }

 private:
  std::shared_ptr<LanguageModel> backbone_;
  std::shared_ptr<Dense> pooler_, head_;
  int64_t n_out_;
  double dropout_;
  bool unpad_ = false, unpad_ok_ = true;
};

}  // namespace lmforge
