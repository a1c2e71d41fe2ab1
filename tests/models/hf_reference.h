// Reference forwards of Hugging Face's BertModel and GPT2Model, written here from HF-named tensors
// (no prefix) with plain ATen: the oracle that hf_import_test and hf_export_test compare our models
// with. BERT: post-LN, learned positions, token types, exact GELU (or another hidden_act), padding
// mask. GPT-2: pre-LN, Conv1D (in, out) weights, causal, tanh GELU, final LN.
#pragma once
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace lmforge::test {

using TMap = std::map<std::string, at::Tensor>;

struct HfDims {
  int64_t d = 8, heads = 2, layers = 2;
  double eps = 1e-12;
  std::string act = "gelu";  // gelu | gelu_new (tanh)
};

inline at::Tensor hf_lin(const at::Tensor& x, const TMap& t, const std::string& n) {
  return at::linear(x, t.at(n + ".weight"), t.at(n + ".bias"));
}
inline at::Tensor hf_ln(const at::Tensor& x, const TMap& t, const std::string& n, const HfDims& m) {
  return at::layer_norm(x, {m.d}, t.at(n + ".weight"), t.at(n + ".bias"), m.eps);
}
inline at::Tensor hf_act(const at::Tensor& x, const HfDims& m) { return m.act == "gelu_new" ? at::gelu(x, "tanh") : at::gelu(x); }
inline at::Tensor hf_attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                            const HfDims& m) {
  const int64_t hd = m.d / m.heads;
  auto heads = [&](const at::Tensor& x) { return x.view({x.size(0), x.size(1), m.heads, hd}).transpose(1, 2); };
  at::Tensor s = at::matmul(heads(q), heads(k).transpose(-1, -2)) / std::sqrt(double(hd));
  s = s.masked_fill(mask, -1e30);
  at::Tensor c = at::matmul(at::softmax(s, -1), heads(v));
  return c.transpose(1, 2).reshape({q.size(0), q.size(1), m.d});
}

// Last hidden states (B, L, d) of BertModel; keep: (B, L) bool, true for real tokens.
inline at::Tensor bert_reference(const TMap& s, const at::Tensor& ids, const at::Tensor& seg, const at::Tensor& keep,
                                 const HfDims& m) {
  const int64_t B = ids.size(0), L = ids.size(1);
  at::Tensor x = at::embedding(s.at("embeddings.word_embeddings.weight"), ids) +
                 s.at("embeddings.position_embeddings.weight").narrow(0, 0, L) +
                 at::embedding(s.at("embeddings.token_type_embeddings.weight"), seg);
  x = hf_ln(x, s, "embeddings.LayerNorm", m);
  at::Tensor mask = keep.logical_not().view({B, 1, 1, L});
  for (int64_t i = 0; i < m.layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    at::Tensor a = hf_attend(hf_lin(x, s, p + "attention.self.query"), hf_lin(x, s, p + "attention.self.key"),
                             hf_lin(x, s, p + "attention.self.value"), mask, m);
    x = hf_ln(hf_lin(a, s, p + "attention.output.dense") + x, s, p + "attention.output.LayerNorm", m);
    at::Tensor h = hf_lin(hf_act(hf_lin(x, s, p + "intermediate.dense"), m), s, p + "output.dense");
    x = hf_ln(h + x, s, p + "output.LayerNorm", m);
  }
  return x;
}

// Last hidden states (B, L, d) of GPT2Model (after ln_f).
inline at::Tensor gpt2_reference(const TMap& s, const at::Tensor& ids, const HfDims& m) {
  const int64_t L = ids.size(1);
  auto conv = [&](const at::Tensor& x, const std::string& n) { return at::matmul(x, s.at(n + ".weight")) + s.at(n + ".bias"); };
  at::Tensor x = at::embedding(s.at("wte.weight"), ids) + s.at("wpe.weight").narrow(0, 0, L);
  at::Tensor causal = at::ones({L, L}, at::kBool).triu(1).view({1, 1, L, L});
  for (int64_t i = 0; i < m.layers; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    at::Tensor qkv = conv(hf_ln(x, s, p + "ln_1", m), p + "attn.c_attn");
    auto parts = qkv.split(m.d, -1);
    x = x + conv(hf_attend(parts[0], parts[1], parts[2], causal, m), p + "attn.c_proj");
    x = x + conv(hf_act(conv(hf_ln(x, s, p + "ln_2", m), p + "mlp.c_fc"), m), p + "mlp.c_proj");
  }
  return hf_ln(x, s, "ln_f", m);
}

// A random BERT encoder in HF names with the "bert." prefix (BertModel's tensors, no pooler or
// head): weights N(0, 0.3^2), LayerNorm gains 1 + N(0, 0.3^2). Draws from the global generator.
inline TMap random_hf_bert(int64_t V, int64_t D, int64_t F, int64_t P, int64_t NL) {
  TMap t;
  auto r = [](std::vector<int64_t> s) { return at::randn(s) * 0.3; };
  t["bert.embeddings.word_embeddings.weight"] = r({V, D});
  t["bert.embeddings.position_embeddings.weight"] = r({P, D});
  t["bert.embeddings.token_type_embeddings.weight"] = r({2, D});
  t["bert.embeddings.LayerNorm.weight"] = 1 + r({D});
  t["bert.embeddings.LayerNorm.bias"] = r({D});
  for (int64_t i = 0; i < NL; ++i) {
    std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
    for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"})
      t[p + n + ".weight"] = r({D, D}), t[p + n + ".bias"] = r({D});
    t[p + "intermediate.dense.weight"] = r({F, D}), t[p + "intermediate.dense.bias"] = r({F});
    t[p + "output.dense.weight"] = r({D, F}), t[p + "output.dense.bias"] = r({D});
    for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"})
      t[p + n + ".weight"] = 1 + r({D}), t[p + n + ".bias"] = r({D});
  }
  return t;
}

}  // namespace lmforge::test
