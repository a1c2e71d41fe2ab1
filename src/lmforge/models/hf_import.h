// Loading Hugging Face checkpoints (config.json + model.safetensors) into our models by name.
//
// BERT (`bert-base-uncased` layout, BertModel or BertFor* with the "bert." prefix) -> encoder with
// post-LN blocks, learned positions, token-type embeddings and the embedding LayerNorm (eps from
// layer_norm_eps), MLP with hidden_act (gelu exact; gelu_new / gelu_pytorch_tanh -> tanh GELU; relu; silu):
//   embeddings.word_embeddings -> embed           embeddings.position_embeddings -> pos_embed
//   embeddings.token_type_embeddings -> type_embed embeddings.LayerNorm (gamma/beta too) -> embed_norm
//   encoder.layer.i.attention.self.{query,key,value} -> layers.i.mixer.qkv (rows stacked q, k, v)
//   encoder.layer.i.attention.output.dense -> layers.i.mixer.out, .LayerNorm -> layers.i.norm1
//   encoder.layer.i.intermediate.dense -> layers.i.ffn.fc1, output.dense -> ffn.fc2, output.LayerNorm -> norm2
//   pooler.dense -> returned separately (SequenceClassifier.pooler)
//   BertForMaskedLM's head (models/mlm_head.h), when the file has it:
//   cls.predictions.transform.dense -> head_transform.dense (model.head_transform = true, with hidden_act)
//   cls.predictions.transform.LayerNorm -> head_transform.norm, cls.predictions.bias -> head_bias
//   cls.predictions.decoder.weight: the tied word embedding (skipped), or lm_head when it differs
//   (model.tie_embeddings = false); cls.predictions.decoder.bias: the same bias again (skipped).
//   Not loaded: the next-sentence head (cls.seq_relationship.*), listed in `skipped`.
// GPT-2 (`gpt2` layout, with or without the "transformer." prefix) -> decoder with pre-LN, learned
// positions, MLP with activation_function (default gelu_new: tanh GELU), final norm, tied
// embeddings; Conv1D weights (in, out) are transposed:
//   wte -> embed, wpe -> pos_embed, h.i.ln_1 -> layers.i.norm1, h.i.attn.c_attn -> mixer.qkv,
//   h.i.attn.c_proj -> mixer.out, h.i.ln_2 -> norm2, h.i.mlp.c_fc -> ffn.fc1, h.i.mlp.c_proj -> ffn.fc2,
//   ln_f -> final_norm. The causal-mask buffers (attn.bias, attn.masked_bias) are skipped.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmforge/models/language_model.h"

namespace lmforge {

struct HfImport {
  std::string family;  // bert | gpt2
  ModelConfig config;  // rebuilds the model; `lmforge import-hf` wraps it in a run config
  std::shared_ptr<LanguageModel> model;
  std::map<std::string, at::Tensor> pooler;  // BERT: weight, bias of pooler.dense (if present)
  std::vector<std::string> skipped;          // tensors of the file that were not used
};

// dir holds config.json and model.safetensors (vocab.txt for BERT is used by the CLI).
HfImport import_hf(const std::string& dir);

// The name mapping alone: HF tensors -> our names (weights transposed/stacked as needed).
std::map<std::string, at::Tensor> map_hf_names(const std::string& family, const std::map<std::string, at::Tensor>& hf,
                                               int64_t n_layers, std::vector<std::string>* skipped,
                                               std::map<std::string, at::Tensor>* pooler);

// Copies tensors into the module's parameters and buffers by name; every parameter must be given
// with its shape (InputError naming the tensor otherwise).
void assign_named_tensors(torch::nn::Module& m, const std::map<std::string, at::Tensor>& t, const std::string& origin);

}  // namespace lmforge
