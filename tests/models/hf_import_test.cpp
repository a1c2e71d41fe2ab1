// Loading Hugging Face BERT / GPT-2 safetensors: a tiny random checkpoint with HF names is written,
// imported, and our model's hidden states are compared with a reference forward written here from
// the HF tensors directly (BERT: post-LN, learned positions, token types, exact GELU, padding mask;
// GPT-2: pre-LN, Conv1D weights, causal, tanh GELU, final LN).
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lmforge/core/error.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/models/hf_import.h"
#include "../test_util.h"
#include "hf_reference.h"

using lmforge::test::TempDir;
using lmforge::test::TMap;

namespace {
constexpr int64_t V = 24, D = 8, H = 2, F = 16, P = 16, NL = 2;

void write_hf(const std::string& dir, const TMap& t, const nlohmann::json& cfg) {
  lmforge::test::write_text(dir + "/config.json", cfg.dump());
  lmforge::write_safetensors(dir + "/model.safetensors", t, {{"format", "pt"}});
}
}  // namespace

TEST(HfImport, BertMatchesReferenceForward) {
  at::manual_seed(3);
  TMap t = lmforge::test::random_hf_bert(V, D, F, P, NL);
  auto r = [](std::vector<int64_t> s) { return at::randn(s) * 0.3; };
  // old TF-converted names for the embedding LayerNorm
  t["bert.embeddings.LayerNorm.gamma"] = t["bert.embeddings.LayerNorm.weight"];
  t["bert.embeddings.LayerNorm.beta"] = t["bert.embeddings.LayerNorm.bias"];
  t.erase("bert.embeddings.LayerNorm.weight");
  t.erase("bert.embeddings.LayerNorm.bias");
  t["bert.pooler.dense.weight"] = r({D, D});
  t["bert.pooler.dense.bias"] = r({D});
  t["cls.predictions.bias"] = r({V});
  TempDir dir("hf");
  write_hf(dir.path(), t,
           {{"model_type", "bert"}, {"vocab_size", V}, {"hidden_size", D}, {"num_hidden_layers", NL},
            {"num_attention_heads", H}, {"intermediate_size", F}, {"max_position_embeddings", P},
            {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12}, {"hidden_act", "gelu"}});
  lmforge::HfImport imp = lmforge::import_hf(dir.path());
  EXPECT_EQ(imp.family, "bert");
  EXPECT_EQ(imp.pooler.size(), 2u);
  EXPECT_TRUE(imp.skipped.empty());  // cls.predictions.bias is the logit bias (mlm_head_test.cpp)
  EXPECT_TRUE(imp.config.head_bias);
  EXPECT_FALSE(imp.config.head_transform);

  at::Tensor ids = at::randint(V, {2, 7}), seg = at::zeros({2, 7}, at::kLong);
  seg.narrow(1, 4, 3).fill_(1);
  at::Tensor keep = at::ones({2, 7}, at::kBool);
  keep[1].narrow(0, 5, 2).fill_(false);  // the second row has 2 padding tokens
  imp.model->eval();
  lmforge::ForwardContext ctx;
  ctx.segments = seg, ctx.key_padding = keep;
  at::Tensor ours = imp.model->hidden(ids, ctx);

  // Reference: HF BertModel's computation.
  TMap s;
  for (auto& [k, v] : t) s[k.substr(k.rfind("bert.", 0) == 0 ? 5 : 0)] = v;
  s["embeddings.LayerNorm.weight"] = s["embeddings.LayerNorm.gamma"];
  s["embeddings.LayerNorm.bias"] = s["embeddings.LayerNorm.beta"];
  at::Tensor x = lmforge::test::bert_reference(s, ids, seg, keep, {D, H, NL, 1e-12, "gelu"});
  // Compare real tokens only (HF computes padded rows too; they are never read).
  at::Tensor m = keep.unsqueeze(-1).to(at::kFloat);
  EXPECT_LT(((ours - x).abs() * m).max().item<double>(), 1e-5);
}

TEST(HfImport, Gpt2MatchesReferenceForward) {
  at::manual_seed(4);
  TMap t;
  auto r = [](std::vector<int64_t> s) { return at::randn(s) * 0.3; };
  t["transformer.wte.weight"] = r({V, D});
  t["transformer.wpe.weight"] = r({P, D});
  for (int i = 0; i < NL; ++i) {
    std::string p = "transformer.h." + std::to_string(i) + ".";
    t[p + "ln_1.weight"] = 1 + r({D}), t[p + "ln_1.bias"] = r({D});
    t[p + "ln_2.weight"] = 1 + r({D}), t[p + "ln_2.bias"] = r({D});
    t[p + "attn.c_attn.weight"] = r({D, 3 * D}), t[p + "attn.c_attn.bias"] = r({3 * D});
    t[p + "attn.c_proj.weight"] = r({D, D}), t[p + "attn.c_proj.bias"] = r({D});
    t[p + "mlp.c_fc.weight"] = r({D, 4 * D}), t[p + "mlp.c_fc.bias"] = r({4 * D});
    t[p + "mlp.c_proj.weight"] = r({4 * D, D}), t[p + "mlp.c_proj.bias"] = r({D});
    t[p + "attn.bias"] = at::ones({1, 1, P, P});  // causal-mask buffer, skipped
  }
  t["transformer.ln_f.weight"] = 1 + r({D});
  t["transformer.ln_f.bias"] = r({D});
  TempDir dir("hf");
  write_hf(dir.path(), t,
           {{"model_type", "gpt2"}, {"vocab_size", V}, {"n_embd", D}, {"n_layer", NL}, {"n_head", H},
            {"n_positions", P}, {"layer_norm_epsilon", 1e-5}, {"n_inner", nullptr}});
  lmforge::HfImport imp = lmforge::import_hf(dir.path());
  EXPECT_EQ(imp.skipped.size(), 2u);
  at::Tensor ids = at::randint(V, {2, 6});
  imp.model->eval();
  lmforge::ForwardContext ctx;
  at::Tensor ours = imp.model->hidden(ids, ctx);

  TMap s;
  for (auto& [k, v] : t) s[k.substr(12)] = v;
  at::Tensor x = lmforge::test::gpt2_reference(s, ids, {D, H, NL, 1e-5, "gelu_new"});
  EXPECT_LT((ours - x).abs().max().item<double>(), 1e-5);
}

TEST(HfImport, MissingTensorAndWrongShapeAreClearErrors) {
  TempDir dir("hf");
  TMap t = {{"wte.weight", at::zeros({V, D})}};
  write_hf(dir.path(), t, {{"model_type", "gpt2"}, {"vocab_size", V}, {"n_embd", D}, {"n_layer", 1}, {"n_head", H}, {"n_positions", P}});
  try {
    lmforge::import_hf(dir.path());
    FAIL();
  } catch (const lmforge::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'wpe.weight' is missing"), std::string::npos) << e.what();
  }
  write_hf(dir.path(), t, {{"model_type", "t5"}});
  EXPECT_THROW(lmforge::import_hf(dir.path()), lmforge::InputError);
}
