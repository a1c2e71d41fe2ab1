// Our models in Hugging Face's layouts: the inverse of models/hf_import.h's name mapping.
//
// A decoder exports as GPT-2 (GPT2LMHeadModel: tied output embedding) when it is exactly GPT-2's
// architecture: learned positions, pre-LN LayerNorm blocks of softmax attention (full, d_model /
// n_heads per head) and an MLP of one width, a final LayerNorm, tied embeddings. An encoder exports
// as BERT (BertModel) when it is BERT's: learned positions, post-LN LayerNorm blocks of attention
// and MLP, the embedding LayerNorm, no final norm. Linear weights go out as HF stores them (GPT-2's
// Conv1D as (in, out); BERT's query/key/value split from our stacked qkv); biases a model was built
// without are written as zeros and LayerNorms without a shift get a zero bias, which computes the
// same function. Activations map to HF's names (gelu -> "gelu", gelu_tanh -> "gelu_new",
// relu, silu). Token-type embeddings an encoder lacks are written as zeros (type_vocab_size 2).
// An encoder with the MLM head transform (model.head_transform, same activation as the MLP) exports
// as BertForMaskedLM: the encoder under "bert.", cls.predictions.transform.*, cls.predictions.bias
// (zeros without model.head_bias), and cls.predictions.decoder.weight only when untied.
//
// Anything else has no HF layout and is refused with a UserError naming the first component that
// has none and its config key (a Hyena mixer, rotary positions, RMSNorm, MoE, Monarch, local
// attention, adapters that are not merged, ...): the exported files must compute what the model
// computes, never an approximation.
#pragma once
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/models/language_model.h"

namespace lmforge {

struct HfExport {
  std::string family;                          // gpt2 | bert
  nlohmann::json config;                       // config.json
  std::map<std::string, at::Tensor> tensors;   // model.safetensors, HF names
};

// The HF config and tensors of `model` (built from `model.config()`), cast to `dtype`
// (kFloat, kBFloat16 or kHalf). `pooler` (BERT: weight, bias of the pooler, from import-hf or a
// fine-tuned classifier) is exported when given.
HfExport export_hf(const LanguageModel& model, at::ScalarType dtype = at::kFloat,
                   const std::map<std::string, at::Tensor>& pooler = {});

}  // namespace lmforge
