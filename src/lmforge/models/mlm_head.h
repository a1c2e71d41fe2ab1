// The masked-LM head transform of BERT (Devlin et al. 2019; Hugging Face's
// BertPredictionHeadTransform, kept by MosaicBERT, Portes et al. 2023), applied to the last hidden
// states before the output projection tied to the token embedding E:
//   t = LayerNorm(act(h W^T + b)),   logits = t E^T + c
// (c: model.head_bias, in LanguageModel). Chosen by model.head_transform; `lmforge import-hf`
// loads a BERT checkpoint's cls.predictions.transform.* into it.
#pragma once
#include <memory>
#include <string>

#include "lmforge/models/model_config.h"
#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"

namespace lmforge {

class MlmHeadTransform : public torch::nn::Module {
 public:
  // The LayerNorm takes the options of the last block's [layernorm] table (eps, low_precision),
  // so a BERT import gets its layer_norm_eps and MosaicBERT its low-precision LayerNorm.
  explicit MlmHeadTransform(const ModelConfig& cfg);
  // h (..., D) -> t (..., D); row-wise.
  at::Tensor forward(const at::Tensor& h) const;
  double flops_per_token() const { return 2.0 * static_cast<double>(dense_->in_features() * dense_->out_features()); }

 private:
  std::shared_ptr<Dense> dense_;
  std::shared_ptr<Norm> norm_;
  std::string activation_;
};

}  // namespace lmforge
