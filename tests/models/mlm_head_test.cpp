// BERT's MLM head (model.head_transform, model.head_bias; models/mlm_head.h): logits are
// LayerNorm(act(h W^T + b)) E^T + c, computed here by hand from the parameters; the fused loss
// with the bias equals cross-entropy of those logits (values and gradients); a Hugging Face
// BertForMaskedLM checkpoint's cls.predictions.* are loaded (tied and untied decoder), and export
// writes them back (BertForMaskedLM layout) so that export -> import gives the same logits.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <torch/csrc/autograd/autograd.h>

#include "../test_util.h"
#include "hf_reference.h"
#include "lmforge/core/error.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/models/hf_export.h"
#include "lmforge/models/hf_import.h"

using namespace lmforge;
using lmforge::test::TempDir;
using lmforge::test::TMap;

namespace {

constexpr int64_t V = 24, D = 8, H = 2, F = 16, P = 16, NL = 2;

ModelConfig bert_with_head(const std::string& extra) {
  toml::table t = parse_toml_string(
      str("kind = \"encoder\"\nvocab_size = ", V, "\nd_model = ", D, "\nn_layers = ", NL, "\nmax_seq_len = ", P,
          "\nposition = \"learned\"\ntype_vocab_size = 2\nembed_norm = true\nfinal_norm = false\n", extra,
          "[block]\nmixer = \"attention\"\nffn = \"mlp\"\nnorm_position = \"post\"\nattention = { n_heads = ", H,
          " }\nmlp = { hidden = ", F, ", activation = \"gelu\" }\nlayernorm = { eps = 1e-12 }\n"),
      "test");
  return parse_model_config(&t, "model");
}

void perturb(LanguageModel& m, uint64_t seed) {
  at::manual_seed(seed);
  torch::NoGradGuard ng;
  for (auto& p : m.parameters()) p.add_(at::randn_like(p) * 0.2);
  m.eval();
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& g, const at::Tensor& b, double eps) {
  at::Tensor mu = x.mean(-1, true), var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) / at::sqrt(var + eps) * g + b;
}

at::Tensor gelu_erf(const at::Tensor& x) { return 0.5 * x * (1 + at::erf(x / std::sqrt(2.0))); }

}  // namespace

TEST(MlmHead, LogitsAreTransformThenTiedProjectionPlusBias) {
  LanguageModel m(bert_with_head("head_transform = true\nhead_bias = true\n"));
  perturb(m, 1);
  auto p = m.named_parameters();
  for (const char* k : {"head_transform.dense.weight", "head_transform.dense.bias", "head_transform.norm.weight",
                        "head_transform.norm.bias", "head_bias"})
    ASSERT_TRUE(p.contains(k)) << k;
  at::Tensor h = at::randn({5, D});
  at::Tensor t = layer_norm(gelu_erf(h.matmul(p["head_transform.dense.weight"].t()) + p["head_transform.dense.bias"]),
                            p["head_transform.norm.weight"], p["head_transform.norm.bias"], 1e-12);
  at::Tensor want = t.matmul(p["embed.weight"].t()) + p["head_bias"];
  EXPECT_LT((m.logits(h) - want).abs().max().item<double>(), 1e-5);
  // Without the keys the model has none of it (old checkpoints keep loading).
  LanguageModel plain(bert_with_head(""));
  EXPECT_FALSE(plain.named_parameters().contains("head_bias"));
  EXPECT_FALSE(plain.named_parameters().contains("head_transform.dense.weight"));
}

TEST(MlmHead, FusedLossWithBiasEqualsCrossEntropyOfTheLogits) {
  LanguageModel m(bert_with_head("head_transform = true\nhead_bias = true\nhead_activation = \"gelu_tanh\"\n"));
  perturb(m, 2);
  at::Tensor h = at::randn({7, D}).requires_grad_();
  at::Tensor y = at::randint(V, {7});
  y[3] = -100;
  const at::Tensor fused = m.loss_sum(h, y);
  const at::Tensor ref = at::cross_entropy_loss(m.logits(h), y, {}, at::Reduction::Sum, -100);
  EXPECT_NEAR(fused.item<double>(), ref.item<double>(), 1e-4 * std::abs(ref.item<double>()));
  std::vector<at::Tensor> wrt = {h, m.named_parameters()["head_bias"], m.named_parameters()["embed.weight"],
                                 m.named_parameters()["head_transform.dense.weight"]};
  auto gf = torch::autograd::grad({fused}, wrt), gr = torch::autograd::grad({ref}, wrt);
  for (size_t i = 0; i < wrt.size(); ++i)
    EXPECT_LT((gf[i] - gr[i]).abs().max().item<double>(), 1e-5) << "input " << i;
}

TEST(MlmHead, BadActivationIsAConfigError) {
  EXPECT_THROW(LanguageModel(bert_with_head("head_transform = true\nhead_activation = \"swishy\"\n")), ConfigError);
}

namespace {
// A tiny BertForMaskedLM checkpoint with HF names; `decoder` = the word embedding (tied) or not.
TMap hf_bert_mlm(bool tied) {
  at::manual_seed(3);
  TMap t = test::random_hf_bert(V, D, F, P, NL);
  auto r = [](std::vector<int64_t> s) { return at::randn(s) * 0.3; };
  t["cls.predictions.transform.dense.weight"] = r({D, D});
  t["cls.predictions.transform.dense.bias"] = r({D});
  t["cls.predictions.transform.LayerNorm.gamma"] = 1 + r({D});  // old TF-converted names
  t["cls.predictions.transform.LayerNorm.beta"] = r({D});
  t["cls.predictions.bias"] = r({V});
  t["cls.predictions.decoder.bias"] = t["cls.predictions.bias"].clone();
  t["cls.predictions.decoder.weight"] = tied ? t["bert.embeddings.word_embeddings.weight"].clone() : r({V, D});
  t["cls.seq_relationship.weight"] = r({2, D}), t["cls.seq_relationship.bias"] = r({2});
  return t;
}

const nlohmann::json kBertConfig = {{"model_type", "bert"}, {"vocab_size", V}, {"hidden_size", D},
                                    {"num_hidden_layers", NL}, {"num_attention_heads", H}, {"intermediate_size", F},
                                    {"max_position_embeddings", P}, {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12},
                                    {"hidden_act", "gelu"}};
}  // namespace

TEST(MlmHead, ImportLoadsBertForMaskedLmHead) {
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied decoder" : "untied decoder");
    TMap t = hf_bert_mlm(tied);
    TempDir dir("hfmlm");
    test::write_text(dir / "config.json", kBertConfig.dump());
    write_safetensors(dir / "model.safetensors", t, {{"format", "pt"}});
    HfImport imp = import_hf(dir.path());
    EXPECT_TRUE(imp.config.head_transform && imp.config.head_bias);
    EXPECT_EQ(imp.config.tie_embeddings, tied);
    EXPECT_EQ(imp.skipped, (std::vector<std::string>{"cls.seq_relationship.bias", "cls.seq_relationship.weight"}));

    // Reference: HF BertForMaskedLM's prediction scores, from the HF tensors.
    at::Tensor ids = at::randint(V, {2, 7}), seg = at::zeros({2, 7}, at::kLong), keep = at::ones({2, 7}, at::kBool);
    TMap s;
    for (auto& [k, v] : t) s[k.rfind("bert.", 0) == 0 ? k.substr(5) : k] = v;
    at::Tensor x = test::bert_reference(s, ids, seg, keep, {D, H, NL, 1e-12, "gelu"});
    at::Tensor tr = layer_norm(gelu_erf(x.matmul(t["cls.predictions.transform.dense.weight"].t()) +
                                        t["cls.predictions.transform.dense.bias"]),
                               t["cls.predictions.transform.LayerNorm.gamma"],
                               t["cls.predictions.transform.LayerNorm.beta"], 1e-12);
    at::Tensor want = tr.matmul(t["cls.predictions.decoder.weight"].t()) + t["cls.predictions.bias"];
    imp.model->eval();
    ForwardContext ctx;
    ctx.segments = seg;
    at::Tensor got = imp.model->logits(imp.model->hidden(ids, ctx));
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-4);
  }
}

TEST(MlmHead, ExportWritesBertForMaskedLmAndReimportsExactly) {
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    LanguageModel m(bert_with_head(str("head_transform = true\nhead_bias = true\ntie_embeddings = ", tied ? "true" : "false", "\n")));
    perturb(m, 4);
    HfExport e = export_hf(m);
    EXPECT_EQ(e.config["architectures"][0], "BertForMaskedLM");
    for (const char* k : {"bert.embeddings.word_embeddings.weight", "bert.encoder.layer.1.output.dense.weight",
                          "cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.bias",
                          "cls.predictions.bias"})
      EXPECT_TRUE(e.tensors.count(k)) << k;
    EXPECT_EQ(e.tensors.count("cls.predictions.decoder.weight"), tied ? 0u : 1u);
    TempDir dir("hfmlmx");
    test::write_text(dir / "config.json", e.config.dump());
    write_safetensors(dir / "model.safetensors", e.tensors, {{"format", "pt"}});
    HfImport back = import_hf(dir.path());
    EXPECT_TRUE(back.skipped.empty());
    back.model->eval();
    at::Tensor ids = at::randint(V, {2, 9});
    ForwardContext a, b;
    EXPECT_TRUE(at::equal(m.logits(m.hidden(ids, a)), back.model->logits(back.model->hidden(ids, b))));
  }
}

TEST(MlmHead, ExportRefusesHeadsBertCannotHold) {
  auto refused = [](const std::string& extra, const std::string& needle) {
    LanguageModel m(bert_with_head(extra));
    try {
      export_hf(m);
      ADD_FAILURE() << extra << ": exported";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused("head_bias = true\n", "model.head_bias = true without model.head_transform");
  refused("head_transform = true\nhead_activation = \"relu\"\n", "model.head_activation = \"relu\"");
}
