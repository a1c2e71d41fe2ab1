// Our decoders / encoders as Hugging Face GPT-2 / BERT; the layout checks and mapping are in
// hf_export.h (the inverse of hf_import.cpp's mapping).
#include "lmforge/models/hf_export.h"

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/nn/components.h"

namespace lmforge {

namespace {

// A component's options with every default filled in (the registries' resolve()).
template <class Registry>
toml::table resolved(const BlockSpec& b, const std::string& name) {
  const toml::node* n = b.options.get(name);
  static const toml::table kEmpty;
  const std::string where = b.path + "." + name;
  return Registry::at(name, where).resolve(n ? *n->as_table() : kEmpty, where);
}

template <class T>
T get(const toml::table& t, const char* key) {
  auto v = t[key].value<T>();
  LMF_REQUIRE(v.has_value(), UserError, "export-hf: option '", key, "' is missing from the resolved options");
  return *v;
}

// Everything the two layouts share, read and checked from the block specs.
struct Layout {
  int64_t n_heads = 0, ffn_hidden = 0;
  double eps = 0;
  std::string activation;  // HF's name
};

// Our activation name -> HF's ("" when HF has none).
std::string hf_activation(const std::string& act) {
  return act == "gelu" ? "gelu" : act == "gelu_tanh" ? "gelu_new" : act == "relu" ? "relu" : act == "silu" ? "silu" : "";
}

[[noreturn]] void refuse(const std::string& family, const std::string& what) {
  throw UserError(str("export-hf: this model has no Hugging Face ", family, " layout: ", what,
                      "; only GPT-2-style decoders and BERT-style encoders can be exported"));
}

Layout check_blocks(const ModelConfig& c, const std::string& family, const std::string& norm_position) {
  Layout L;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const BlockSpec& b = c.layers[i];
    const std::string at_layer = str(" (layer ", i, ", ", b.path, ")");
    if (b.mixer != "attention") refuse(family, str(b.path, ".mixer = \"", b.mixer, "\"", at_layer));
    if (b.norm != "layernorm") refuse(family, str(b.path, ".norm = \"", b.norm, "\"", at_layer));
    if (b.ffn != "mlp") refuse(family, str(b.path, ".ffn = \"", b.ffn, "\"", at_layer));
    if (b.norm_position != norm_position)
      refuse(family, str(b.path, ".norm_position = \"", b.norm_position, "\" (", family, " is ", norm_position, "-LN)"));
    const toml::table a = resolved<MixerRegistry>(b, "attention");
    const int64_t heads = get<int64_t>(a, "n_heads"), head_dim = get<int64_t>(a, "head_dim");
    if (head_dim != 0 && head_dim * heads != c.d_model)
      refuse(family, str(b.path, ".attention.head_dim = ", head_dim, " (must be d_model / n_heads)"));
    if (get<int64_t>(a, "window") != 0)
      refuse(family, str(b.path, ".attention.window = ", get<int64_t>(a, "window"), " (local attention)"));
    const toml::table m = resolved<FfnRegistry>(b, "mlp");
    const std::string act = get<std::string>(m, "activation");
    const std::string hf_act = hf_activation(act);
    if (hf_act.empty()) refuse(family, str(b.path, ".mlp.activation = \"", act, "\""));
    // As the MLP computes its width (nn/feedforward.cpp).
    const int64_t hidden = get<int64_t>(m, "hidden") > 0 ? get<int64_t>(m, "hidden")
                                                         : static_cast<int64_t>(std::llround(get<double>(m, "mult") * c.d_model));
    const double eps = get<double>(resolved<NormRegistry>(b, "layernorm"), "eps");
    if (i == 0) {
      L = {heads, hidden, eps, hf_act};
    } else if (heads != L.n_heads || hidden != L.ffn_hidden || eps != L.eps || hf_act != L.activation) {
      refuse(family, str("layer ", i, " differs from layer 0 in heads, MLP width, activation or LayerNorm eps (",
                         family, " has one block shape)"));
    }
  }
  LMF_REQUIRE(!c.layers.empty(), UserError, "export-hf: the model has no layers");
  return L;
}

// Reads our tensors by name; a missing bias (built without one) is zeros of `shape`.
struct Source {
  std::map<std::string, at::Tensor> t;
  at::ScalarType dtype;
  at::Tensor operator()(const std::string& name) const {
    auto it = t.find(name);
    LMF_REQUIRE(it != t.end(), UserError, "export-hf: the model has no tensor '", name, "'");
    return it->second.to(dtype).contiguous();
  }
  at::Tensor bias_or_zeros(const std::string& name, int64_t n) const {
    auto it = t.find(name);
    return it != t.end() ? it->second.to(dtype).contiguous() : at::zeros({n}, at::TensorOptions().dtype(dtype));
  }
};

void export_gpt2(const ModelConfig& c, const Layout& L, const Source& s, HfExport& out) {
  const int64_t D = c.d_model;
  auto& o = out.tensors;
  o["wte.weight"] = s("embed.weight");
  o["wpe.weight"] = s("pos_embed.weight");
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const std::string h = str("h.", i, "."), p = str("layers.", i, ".");
    auto conv = [&](const std::string& ours, const std::string& hf, int64_t n_out) {  // Conv1D: (in, out)
      o[hf + ".weight"] = s(p + ours + ".weight").t().contiguous();
      o[hf + ".bias"] = s.bias_or_zeros(p + ours + ".bias", n_out);
    };
    o[h + "ln_1.weight"] = s(p + "norm1.weight");
    o[h + "ln_1.bias"] = s.bias_or_zeros(p + "norm1.bias", D);
    conv("mixer.qkv", h + "attn.c_attn", 3 * D);
    conv("mixer.out", h + "attn.c_proj", D);
    o[h + "ln_2.weight"] = s(p + "norm2.weight");
    o[h + "ln_2.bias"] = s.bias_or_zeros(p + "norm2.bias", D);
    conv("ffn.fc1", h + "mlp.c_fc", L.ffn_hidden);
    conv("ffn.fc2", h + "mlp.c_proj", D);
  }
  o["ln_f.weight"] = s("final_norm.weight");
  o["ln_f.bias"] = s.bias_or_zeros("final_norm.bias", D);
  out.config = {{"model_type", "gpt2"},
                {"architectures", {"GPT2LMHeadModel"}},
                {"vocab_size", c.vocab_size},
                {"n_positions", c.max_seq_len},
                {"n_ctx", c.max_seq_len},
                {"n_embd", D},
                {"n_layer", static_cast<int64_t>(c.layers.size())},
                {"n_head", L.n_heads},
                {"n_inner", L.ffn_hidden},
                {"activation_function", L.activation},
                {"layer_norm_epsilon", L.eps},
                {"resid_pdrop", c.dropout},
                {"embd_pdrop", c.dropout},
                {"attn_pdrop", 0.0},
                {"initializer_range", c.init_std},
                {"scale_attn_weights", true},
                {"tie_word_embeddings", true},
                {"use_cache", true}};
}

void export_bert(const ModelConfig& c, const Layout& L, const Source& s, const std::map<std::string, at::Tensor>& pooler,
                 HfExport& out) {
  const int64_t D = c.d_model;
  auto& o = out.tensors;
  o["embeddings.word_embeddings.weight"] = s("embed.weight");
  o["embeddings.position_embeddings.weight"] = s("pos_embed.weight");
  const int64_t types = c.type_vocab_size > 0 ? c.type_vocab_size : 2;
  o["embeddings.token_type_embeddings.weight"] =
      c.type_vocab_size > 0 ? s("type_embed.weight") : at::zeros({types, D}, at::TensorOptions().dtype(s.dtype));
  o["embeddings.LayerNorm.weight"] = s("embed_norm.weight");
  o["embeddings.LayerNorm.bias"] = s.bias_or_zeros("embed_norm.bias", D);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const std::string h = str("encoder.layer.", i, "."), p = str("layers.", i, ".");
    const at::Tensor qkv_w = s(p + "mixer.qkv.weight"), qkv_b = s.bias_or_zeros(p + "mixer.qkv.bias", 3 * D);
    const char* names[] = {"query", "key", "value"};
    for (int k = 0; k < 3; ++k) {
      o[h + "attention.self." + names[k] + ".weight"] = qkv_w.narrow(0, k * D, D).contiguous();
      o[h + "attention.self." + names[k] + ".bias"] = qkv_b.narrow(0, k * D, D).contiguous();
    }
    auto linear = [&](const std::string& ours, const std::string& hf, int64_t n_out) {
      o[hf + ".weight"] = s(p + ours + ".weight");
      o[hf + ".bias"] = s.bias_or_zeros(p + ours + ".bias", n_out);
    };
    linear("mixer.out", h + "attention.output.dense", D);
    linear("norm1", h + "attention.output.LayerNorm", D);
    linear("ffn.fc1", h + "intermediate.dense", L.ffn_hidden);
    linear("ffn.fc2", h + "output.dense", D);
    linear("norm2", h + "output.LayerNorm", D);
  }
  if (!pooler.empty()) {
    o["pooler.dense.weight"] = pooler.at("weight").to(s.dtype).contiguous();
    o["pooler.dense.bias"] = pooler.at("bias").to(s.dtype).contiguous();
  }
  if (c.head_transform) {
    // BertForMaskedLM: the encoder under "bert." (as bert-base-uncased's file), the head under
    // cls.predictions. The decoder weight is the tied word embedding, which HF's own files leave out.
    std::map<std::string, at::Tensor> prefixed;
    for (auto& [k, v] : o) prefixed["bert." + k] = v;
    o = std::move(prefixed);
    o["cls.predictions.transform.dense.weight"] = s("head_transform.dense.weight");
    o["cls.predictions.transform.dense.bias"] = s("head_transform.dense.bias");
    o["cls.predictions.transform.LayerNorm.weight"] = s("head_transform.norm.weight");
    o["cls.predictions.transform.LayerNorm.bias"] = s.bias_or_zeros("head_transform.norm.bias", D);
    o["cls.predictions.bias"] = s.bias_or_zeros("head_bias", c.vocab_size);
    if (!c.tie_embeddings) o["cls.predictions.decoder.weight"] = s("lm_head.weight");
  }
  out.config = {{"model_type", "bert"},
                {"architectures", {c.head_transform ? "BertForMaskedLM" : "BertModel"}},
                {"vocab_size", c.vocab_size},
                {"hidden_size", D},
                {"num_hidden_layers", static_cast<int64_t>(c.layers.size())},
                {"num_attention_heads", L.n_heads},
                {"intermediate_size", L.ffn_hidden},
                {"hidden_act", L.activation},
                {"max_position_embeddings", c.max_seq_len},
                {"type_vocab_size", types},
                {"layer_norm_eps", L.eps},
                {"hidden_dropout_prob", c.dropout},
                {"attention_probs_dropout_prob", 0.0},
                {"initializer_range", c.init_std},
                {"position_embedding_type", "absolute"},
                {"tie_word_embeddings", c.tie_embeddings},
                {"pad_token_id", 0}};
}

}  // namespace

HfExport export_hf(const LanguageModel& model, at::ScalarType dtype, const std::map<std::string, at::Tensor>& pooler) {
  LMF_REQUIRE(dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kHalf, UserError,
              "export-hf: dtype must be fp32, bf16 or fp16");
  const ModelConfig& c = model.config();
  HfExport out;
  out.family = c.kind == "decoder" ? "gpt2" : "bert";
  const std::string& f = out.family;
  if (c.peft.kind != "none")
    refuse(f, str("model.peft.kind = \"", c.peft.kind, "\" (adapters: run `lmforge merge-lora` first)"));
  if (c.position != "learned") refuse(f, str("model.position = \"", c.position, "\" (", f, " has learned positions)"));
  if (f == "gpt2") {
    if (!c.tie_embeddings) refuse(f, "model.tie_embeddings = false (GPT-2 ties its output to the input embedding)");
    if (!c.final_norm) refuse(f, "model.final_norm = false (GPT-2 ends with a LayerNorm)");
    if (c.embed_norm) refuse(f, "model.embed_norm = true (GPT-2 has no embedding LayerNorm)");
    if (c.type_vocab_size > 0) refuse(f, "model.type_vocab_size > 0 (GPT-2 has no token types)");
  } else {
    if (!c.embed_norm) refuse(f, "model.embed_norm = false (BERT normalises the embedding sum)");
    if (c.final_norm) refuse(f, "model.final_norm = true (BERT has no final LayerNorm)");
    if (c.head_bias && !c.head_transform)
      refuse(f, "model.head_bias = true without model.head_transform (BERT's MLM head has both)");
  }
  if (f == "gpt2" && (c.head_transform || c.head_bias))
    refuse(f, "model.head_transform / model.head_bias (GPT-2's output is the tied embedding alone)");
  const Layout L = check_blocks(c, f, f == "gpt2" ? "pre" : "post");
  if (c.head_transform && hf_activation(c.head_activation) != L.activation)
    refuse(f, str("model.head_activation = \"", c.head_activation, "\" differs from the MLP's (BERT's head uses hidden_act)"));
  Source s{{}, dtype};
  for (const auto& p : model.named_parameters()) s.t[p.key()] = p.value().detach().cpu();
  for (const auto& b : model.named_buffers()) s.t[b.key()] = b.value().detach().cpu();
  if (f == "gpt2") export_gpt2(c, L, s, out);
  else export_bert(c, L, s, pooler, out);
  out.config["torch_dtype"] = dtype == at::kFloat ? "float32" : dtype == at::kBFloat16 ? "bfloat16" : "float16";
  out.config["exported_by"] = "lmforge export-hf";
  return out;
}

}  // namespace lmforge
