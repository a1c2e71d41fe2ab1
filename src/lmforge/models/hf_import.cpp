// Hugging Face BERT / GPT-2 checkpoints into our encoder / decoder; mapping in hf_import.h.
#include "lmforge/models/hf_import.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/safetensors.h"

namespace lmforge {

namespace fs = std::filesystem;

namespace {
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Strips the model prefix (bert. / transformer.) and BERT's old gamma/beta names; fp32.
std::map<std::string, at::Tensor> plain_names(const std::map<std::string, at::Tensor>& hf_in) {
  std::map<std::string, at::Tensor> hf;
  for (const auto& [k0, v] : hf_in) {
    std::string k = k0;
    for (const char* p : {"bert.", "transformer."})
      if (starts_with(k, p)) k = k.substr(std::string(p).size());
    if (k.size() > 6 && k.compare(k.size() - 6, 6, ".gamma") == 0) k = k.substr(0, k.size() - 6) + ".weight";
    if (k.size() > 5 && k.compare(k.size() - 5, 5, ".beta") == 0) k = k.substr(0, k.size() - 5) + ".bias";
    hf[k] = v.to(at::kFloat);
  }
  return hf;
}

// What of BERT's MLM head (BertForMaskedLM's cls.predictions) a checkpoint holds.
struct BertHead {
  bool transform = false, bias = false, untied = false;
};
BertHead bert_head(const std::map<std::string, at::Tensor>& hf) {
  BertHead h;
  h.transform = hf.count("cls.predictions.transform.dense.weight") > 0;
  h.bias = hf.count("cls.predictions.bias") > 0;
  auto dec = hf.find("cls.predictions.decoder.weight"), emb = hf.find("embeddings.word_embeddings.weight");
  // A decoder that is not the word embedding (a checkpoint saved untied) becomes our lm_head.
  h.untied = dec != hf.end() && emb != hf.end() &&
             (dec->second.sizes() != emb->second.sizes() || !at::equal(dec->second, emb->second));
  return h;
}
}  // namespace

std::map<std::string, at::Tensor> map_hf_names(const std::string& family, const std::map<std::string, at::Tensor>& hf_in,
                                               int64_t n_layers, std::vector<std::string>* skipped,
                                               std::map<std::string, at::Tensor>* pooler) {
  const std::map<std::string, at::Tensor> hf = plain_names(hf_in);
  std::set<std::string> used;
  std::map<std::string, at::Tensor> out;
  auto take = [&](const std::string& k) -> at::Tensor {
    auto it = hf.find(k);
    LMF_REQUIRE(it != hf.end(), InputError, "HF ", family, " checkpoint: tensor '", k, "' is missing");
    used.insert(k);
    return it->second;
  };
  auto copy = [&](const std::string& from, const std::string& to) { out[to] = take(from); };
  if (family == "bert") {
    copy("embeddings.word_embeddings.weight", "embed.weight");
    copy("embeddings.position_embeddings.weight", "pos_embed.weight");
    if (hf.count("embeddings.token_type_embeddings.weight"))
      copy("embeddings.token_type_embeddings.weight", "type_embed.weight");
    copy("embeddings.LayerNorm.weight", "embed_norm.weight");
    copy("embeddings.LayerNorm.bias", "embed_norm.bias");
    for (int64_t i = 0; i < n_layers; ++i) {
      const std::string h = str("encoder.layer.", i, "."), o = str("layers.", i, ".");
      for (const char* wb : {"weight", "bias"}) {
        out[o + "mixer.qkv." + wb] = at::cat({take(h + "attention.self.query." + wb), take(h + "attention.self.key." + wb),
                                               take(h + "attention.self.value." + wb)}, 0);
        copy(h + "attention.output.dense." + wb, o + "mixer.out." + wb);
        copy(h + "attention.output.LayerNorm." + wb, o + "norm1." + wb);
        copy(h + "intermediate.dense." + wb, o + "ffn.fc1." + wb);
        copy(h + "output.dense." + wb, o + "ffn.fc2." + wb);
        copy(h + "output.LayerNorm." + wb, o + "norm2." + wb);
      }
    }
    // The MLM head: transform (dense + act + LayerNorm), logit bias, decoder (the tied embedding,
    // or our lm_head when the checkpoint's differs; its bias is the logit bias again).
    const BertHead head = bert_head(hf);
    if (head.transform)
      for (const char* wb : {"weight", "bias"}) {
        copy(str("cls.predictions.transform.dense.", wb), str("head_transform.dense.", wb));
        copy(str("cls.predictions.transform.LayerNorm.", wb), str("head_transform.norm.", wb));
      }
    if (head.bias) copy("cls.predictions.bias", "head_bias");
    if (hf.count("cls.predictions.decoder.weight")) {
      if (head.untied) copy("cls.predictions.decoder.weight", "lm_head.weight");
      else used.insert("cls.predictions.decoder.weight");
    }
    if (head.bias && hf.count("cls.predictions.decoder.bias") &&
        at::equal(hf.at("cls.predictions.decoder.bias"), hf.at("cls.predictions.bias")))
      used.insert("cls.predictions.decoder.bias");
    if (pooler && hf.count("pooler.dense.weight")) {
      (*pooler)["weight"] = take("pooler.dense.weight");
      (*pooler)["bias"] = take("pooler.dense.bias");
    }
  } else if (family == "gpt2") {
    copy("wte.weight", "embed.weight");
    copy("wpe.weight", "pos_embed.weight");
    for (int64_t i = 0; i < n_layers; ++i) {
      const std::string h = str("h.", i, "."), o = str("layers.", i, ".");
      auto conv = [&](const std::string& from, const std::string& to) {  // Conv1D stores (in, out)
        out[to + ".weight"] = take(from + ".weight").t().contiguous();
        out[to + ".bias"] = take(from + ".bias");
      };
      copy(h + "ln_1.weight", o + "norm1.weight");
      copy(h + "ln_1.bias", o + "norm1.bias");
      conv(h + "attn.c_attn", o + "mixer.qkv");
      conv(h + "attn.c_proj", o + "mixer.out");
      copy(h + "ln_2.weight", o + "norm2.weight");
      copy(h + "ln_2.bias", o + "norm2.bias");
      conv(h + "mlp.c_fc", o + "ffn.fc1");
      conv(h + "mlp.c_proj", o + "ffn.fc2");
    }
    copy("ln_f.weight", "final_norm.weight");
    copy("ln_f.bias", "final_norm.bias");
  } else {
    throw InputError(str("HF checkpoint: model_type '", family, "' is not supported (bert, gpt2)"));
  }
  if (skipped)
    for (const auto& [k, v] : hf)
      if (!used.count(k)) skipped->push_back(k);
  return out;
}

void assign_named_tensors(torch::nn::Module& m, const std::map<std::string, at::Tensor>& t, const std::string& origin) {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters()) {
    auto it = t.find(p.key());
    LMF_REQUIRE(it != t.end(), InputError, origin, ": no tensor for parameter '", p.key(), "'");
    LMF_REQUIRE(it->second.sizes() == p.value().sizes(), InputError, origin, ": tensor for '", p.key(), "' has shape ",
                it->second.sizes(), ", the model expects ", p.value().sizes());
    p.value().copy_(it->second);
  }
  for (auto& b : m.named_buffers()) {
    auto it = t.find(b.key());
    if (it != t.end()) b.value().copy_(it->second);
  }
}

HfImport import_hf(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  const std::string st_path = (fs::path(dir) / "model.safetensors").string();
  LMF_REQUIRE(fs::exists(cfg_path), InputError, "HF checkpoint '", dir, "': config.json is missing");
  LMF_REQUIRE(fs::exists(st_path), InputError, "HF checkpoint '", dir, "': model.safetensors is missing");
  nlohmann::json c;
  try {
    c = nlohmann::json::parse(read_file(cfg_path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str("file ", cfg_path, ": not valid JSON (", e.what(), ")"));
  }
  HfImport r;
  r.family = c.value("model_type", "");
  auto need = [&](const char* k) {
    LMF_REQUIRE(c.contains(k) && c[k].is_number_integer(), InputError, "file ", cfg_path, ": integer \"", k, "\" missing");
    return c[k].get<int64_t>();
  };
  // HF's activation names (ACT2FN) -> ours; anything else would compute another function.
  auto activation = [&](const char* key, const char* dflt) {
    const std::string a = c.value(key, dflt);
    if (a == "gelu") return std::string("gelu");
    if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast") return std::string("gelu_tanh");
    if (a == "relu") return std::string("relu");
    if (a == "silu" || a == "swish") return std::string("silu");
    throw InputError(str("file ", cfg_path, ": ", key, " '", a,
                         "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)"));
  };
  std::map<std::string, at::Tensor> hf = read_safetensors(st_path);
  std::string toml_text;
  if (r.family == "bert") {
    const std::string act = activation("hidden_act", "gelu");
    // HF's BertPredictionHeadTransform applies hidden_act too.
    const BertHead head = bert_head(plain_names(hf));
    toml_text = str("[model]\nkind = \"encoder\"\nvocab_size = ", need("vocab_size"),
                    "\nd_model = ", need("hidden_size"), "\nn_layers = ", need("num_hidden_layers"),
                    "\nmax_seq_len = ", need("max_position_embeddings"), "\nposition = \"learned\"\ntype_vocab_size = ",
                    c.value("type_vocab_size", 2), "\nembed_norm = true\nfinal_norm = false\ntie_embeddings = ",
                    head.untied ? "false" : "true", "\nhead_transform = ", head.transform ? "true" : "false",
                    "\nhead_activation = \"", act, "\"\nhead_bias = ", head.bias ? "true" : "false", "\n",
                    "[model.block]\nmixer = \"attention\"\nnorm = \"layernorm\"\nffn = \"mlp\"\nnorm_position = \"post\"\n",
                    "attention = { n_heads = ", need("num_attention_heads"), " }\nlayernorm = { eps = ",
                    c.value("layer_norm_eps", 1e-12), " }\nmlp = { hidden = ", need("intermediate_size"),
                    ", activation = \"", act, "\" }\n");
  } else if (r.family == "gpt2") {
    const std::string act = activation("activation_function", "gelu_new");
    const int64_t d = need("n_embd");
    const int64_t inner = c.contains("n_inner") && c["n_inner"].is_number_integer() ? c["n_inner"].get<int64_t>() : 4 * d;
    toml_text = str("[model]\nkind = \"decoder\"\nvocab_size = ", need("vocab_size"), "\nd_model = ", d,
                    "\nn_layers = ", need("n_layer"), "\nmax_seq_len = ", need("n_positions"),
                    "\nposition = \"learned\"\nfinal_norm = true\ntie_embeddings = true\n",
                    "[model.block]\nmixer = \"attention\"\nnorm = \"layernorm\"\nffn = \"mlp\"\nnorm_position = \"pre\"\n",
                    "attention = { n_heads = ", need("n_head"), " }\nlayernorm = { eps = ", c.value("layer_norm_epsilon", 1e-5),
                    " }\nmlp = { hidden = ", inner, ", activation = \"", act, "\" }\n");
  } else {
    throw InputError(str("file ", cfg_path, ": model_type '", r.family, "' is not supported (bert, gpt2)"));
  }
  toml::table t;
  try {
    t = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    throw InputError(str("HF checkpoint '", dir, "': cannot build a config (", e.description(), ")"));
  }
  r.config = parse_model_config(t["model"].as_table(), "model");
  r.model = std::make_shared<LanguageModel>(r.config);
  std::map<std::string, at::Tensor> mapped = map_hf_names(r.family, hf, r.config.n_layers, &r.skipped, &r.pooler);
  assign_named_tensors(*r.model, mapped, st_path);
  return r;
}

}  // namespace lmforge
