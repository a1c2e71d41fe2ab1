// The model section of the config: model-wide sizes and the per-layer block specs.
//
//   [model]
//   d_model = 256
//   n_layers = 4
//   [model.block]                 # the default block of every layer
//   mixer = "attention"
//   norm = "layernorm"
//   ffn = "mlp"
//   attention = { n_heads = 4 }   # options of the chosen components, by component name
//   [[model.blocks]]              # optional: groups of layers that differ from the default
//   repeat = 2
//   mixer = "hyena"
//
// Each [[model.blocks]] entry is merged over [model.block]; the repeats must add up to n_layers.
// So a model can mix layer types (attention + convolution hybrids, FlexiBERT-style stacks).
#pragma once
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "lmforge/core/config.h"
#include "lmforge/models/hmt_config.h"
#include "lmforge/models/peft_config.h"

namespace lmforge {

struct BlockSpec {
  std::string mixer = "attention";
  std::string norm = "layernorm";
  std::string ffn = "mlp";       // "none": no feed-forward sub-block
  std::string norm_position = "pre";  // pre | post
  int64_t repeat = 1;
  toml::table options;  // component name -> its options table
  std::string path;     // config key of this spec, for messages
};

struct ModelConfig {
  std::string kind = "decoder";  // decoder | encoder
  int64_t vocab_size = 0;        // 0: taken from the tokenizer or the synthetic task
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t max_seq_len = 256;
  std::string position = "rope";  // learned | rope | alibi | none
  bool tie_embeddings = true;
  bool final_norm = true;
  double dropout = 0.0;
  double init_std = 0.02;
  int64_t type_vocab_size = 0;  // > 0: token-type (segment) embeddings, as BERT
  bool embed_norm = false;      // norm after the embedding sum (BERT, MosaicBERT)
  // BERT's MLM head (cls.predictions): t = LayerNorm(act(dense(h))) before the tied projection,
  // and a bias on the logits (models/mlm_head.h).
  bool head_transform = false;
  std::string head_activation = "gelu";
  bool head_bias = false;
  std::vector<BlockSpec> layers;  // one per layer, resolved
  PeftConfig peft;                // [model.peft]: LoRA / MEFT, applied after the weights load
  HmtConfig hmt;                  // [model.hmt]: HMT's segment recurrence and memory (models/hmt.h)

  template <class V>
  void visit_scalars(V& v) {
    v("kind", kind, "decoder (causal LM) | encoder (bidirectional)");
    v("vocab_size", vocab_size, "0 = from the tokenizer or task");
    v("d_model", d_model, "residual stream width");
    v("n_layers", n_layers, "number of blocks");
    v("max_seq_len", max_seq_len, "longest sequence (learned positions are this long)");
    v("position", position, "learned | rope | alibi | none");
    v("tie_embeddings", tie_embeddings, "output projection shares the input embedding");
    v("final_norm", final_norm, "norm after the last block");
    v("dropout", dropout, "dropout on embeddings and residual branches");
    v("init_std", init_std, "std of the normal initialisation");
    v("type_vocab_size", type_vocab_size, "token-type (segment) embeddings, 0 = none (BERT: 2)");
    v("embed_norm", embed_norm, "apply the block norm to the embedding sum (BERT, MosaicBERT)");
    v("head_transform", head_transform,
      "dense + head_activation + LayerNorm before the output projection (BERT's MLM head transform)");
    v("head_activation", head_activation, "activation of the head transform: gelu | gelu_tanh | relu | silu");
    v("head_bias", head_bias, "a learned bias on the output logits (BERT's cls.predictions.bias)");
  }
};

// Reads [model] (including block specs), validating every component name and option.
ModelConfig parse_model_config(const toml::table* model, const std::string& path = "model");
// The resolved [model] table: every default filled in, one [[model.blocks]] per group of layers.
toml::table model_config_to_toml(const ModelConfig& m);

}  // namespace lmforge
