// models/hf_export and `lmforge export-hf`: our GPT-2-style decoders and BERT-style encoders in
// Hugging Face's layout compute, through a reference forward written from HF's tensor names
// (hf_reference.h), what our models compute; export then import-hf gives the same logits; models
// without an HF layout are refused naming the component.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "hf_reference.h"
#include "lmforge/core/error.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/data/hf_tokenizer.h"
#include "lmforge/models/hf_export.h"
#include "lmforge/models/hf_import.h"
#include "lmforge/nn/context.h"
#include "lmforge/train/load_run.h"

using namespace lmforge;
using lmforge::test::TempDir;
using lmforge::test::TMap;
namespace fs = std::filesystem;

namespace {

constexpr int64_t V = 30, D = 16, H = 4, P = 24, NL = 2;

ModelConfig config_of(const std::string& text) {
  toml::table t = toml::parse(text);
  return parse_model_config(t["model"].as_table(), "model");
}

std::string gpt2_toml(const std::string& extra_block = "", const std::string& extra_model = "") {
  return str("[model]\nkind = \"decoder\"\nvocab_size = ", V, "\nd_model = ", D, "\nn_layers = ", NL,
             "\nmax_seq_len = ", P, "\nposition = \"learned\"\n", extra_model,
             "[model.block]\nmixer = \"attention\"\nnorm = \"layernorm\"\nffn = \"mlp\"\n"
             "attention = { n_heads = ", H, " }\nmlp = { hidden = 40, activation = \"gelu_tanh\" }\n", extra_block);
}

std::string bert_toml(const std::string& extra_model = "type_vocab_size = 2\n") {
  return str("[model]\nkind = \"encoder\"\nvocab_size = ", V, "\nd_model = ", D, "\nn_layers = ", NL,
             "\nmax_seq_len = ", P, "\nposition = \"learned\"\nembed_norm = true\nfinal_norm = false\n", extra_model,
             "[model.block]\nmixer = \"attention\"\nnorm = \"layernorm\"\nffn = \"mlp\"\nnorm_position = \"post\"\n"
             "attention = { n_heads = ", H, " }\nmlp = { mult = 2.0, activation = \"gelu\" }\nlayernorm = { eps = 1e-12 }\n");
}

// A model with every parameter moved off its initialisation, so LayerNorm gains and biases matter.
std::shared_ptr<LanguageModel> random_model(const ModelConfig& c, uint64_t seed) {
  at::manual_seed(seed);
  auto m = std::make_shared<LanguageModel>(c);
  torch::NoGradGuard ng;
  for (auto& p : m->parameters()) p.add_(at::randn_like(p) * 0.2);
  m->eval();
  return m;
}

}  // namespace

TEST(HfExport, Gpt2FilesComputeWhatTheModelComputes) {
  // Default biases, and a model built without any bias (exported as zeros): both exact.
  for (const std::string& extra : {std::string(), std::string("[model.block.attention]\n")}) {
    const std::string text = extra.empty() ? gpt2_toml()
                                           : str("[model]\nkind = \"decoder\"\nvocab_size = ", V, "\nd_model = ", D,
                                                 "\nn_layers = ", NL, "\nmax_seq_len = ", P,
                                                 "\nposition = \"learned\"\n[model.block]\nmixer = \"attention\"\n"
                                                 "norm = \"layernorm\"\nffn = \"mlp\"\nattention = { n_heads = ", H,
                                                 ", qkv_bias = false, out_bias = false }\n"
                                                 "mlp = { hidden = 40, activation = \"gelu_tanh\", bias = false }\n"
                                                 "layernorm = { bias = false }\n");
    SCOPED_TRACE(text);
    auto m = random_model(config_of(text), 5);
    HfExport e = export_hf(*m);
    EXPECT_EQ(e.family, "gpt2");
    EXPECT_EQ(e.config["n_inner"], 40);
    EXPECT_EQ(e.config["activation_function"], "gelu_new");
    EXPECT_EQ(e.tensors.at("h.1.attn.c_attn.weight").sizes(), (at::IntArrayRef{D, 3 * D}));  // Conv1D (in, out)
    at::Tensor ids = at::randint(V, {2, 9});
    ForwardContext ctx;
    at::Tensor ours = m->hidden(ids, ctx);
    at::Tensor ref = test::gpt2_reference(e.tensors, ids, {D, H, NL, 1e-5, "gelu_new"});
    EXPECT_LT((ours - ref).abs().max().item<double>(), 1e-5);
  }
}

TEST(HfExport, BertFilesComputeWhatTheModelComputes) {
  // With token types, and without (exported as zero rows: the same function).
  for (const std::string& extra : {std::string("type_vocab_size = 2\n"), std::string()}) {
    SCOPED_TRACE(extra);
    auto m = random_model(config_of(bert_toml(extra)), 6);
    HfExport e = export_hf(*m);
    EXPECT_EQ(e.family, "bert");
    EXPECT_EQ(e.config["intermediate_size"], 2 * D);
    EXPECT_EQ(e.config["type_vocab_size"], 2);
    at::Tensor ids = at::randint(V, {2, 7}), seg = at::zeros({2, 7}, at::kLong);
    if (!extra.empty()) seg.narrow(1, 4, 3).fill_(1);
    at::Tensor keep = at::ones({2, 7}, at::kBool);
    keep[1].narrow(0, 5, 2).fill_(false);
    ForwardContext ctx;
    if (!extra.empty()) ctx.segments = seg;
    ctx.key_padding = keep;
    at::Tensor ours = m->hidden(ids, ctx);
    at::Tensor ref = test::bert_reference(e.tensors, ids, seg, keep, {D, H, NL, 1e-12, "gelu"});
    at::Tensor real = keep.unsqueeze(-1).to(at::kFloat);
    EXPECT_LT(((ours - ref).abs() * real).max().item<double>(), 1e-5);
  }
}

TEST(HfExport, ExportThenImportGivesTheSameLogits) {
  for (const std::string& text : {gpt2_toml(), bert_toml()}) {
    auto m = random_model(config_of(text), 7);
    HfExport e = export_hf(*m);
    TempDir d("hfexp");
    write_safetensors(d / "model.safetensors", e.tensors);
    test::write_text(d / "config.json", e.config.dump());
    HfImport back = import_hf(d.path());
    back.model->eval();
    at::Tensor ids = at::randint(V, {2, 8});
    ForwardContext a, b;
    EXPECT_TRUE(at::equal(m->logits(m->hidden(ids, a)), back.model->logits(back.model->hidden(ids, b)))) << e.family;
  }
}

TEST(HfExport, ModelsWithoutAnHfLayoutAreRefusedNamingTheComponent) {
  const std::pair<std::string, std::string> cases[] = {
      {gpt2_toml("", "").replace(gpt2_toml().find("position = \"learned\""), 20, "position = \"rope\"   "),
       "model.position = \"rope\""},
      {gpt2_toml().replace(gpt2_toml().find("mixer = \"attention\""), 19, "mixer = \"hyena\"    "), ".mixer = \"hyena\""},
      {gpt2_toml().replace(gpt2_toml().find("norm = \"layernorm\""), 18, "norm = \"rmsnorm\"  "), ".norm = \"rmsnorm\""},
      {gpt2_toml("", "tie_embeddings = false\n"), "model.tie_embeddings = false"},
      {gpt2_toml().replace(gpt2_toml().find("n_heads = 4 }"), 13, "n_heads = 4, window = 4 }"), ".attention.window = 4"},
      {bert_toml().replace(bert_toml().find("norm_position = \"post\""), 22, "norm_position = \"pre\" "),
       ".norm_position = \"pre\""},
  };
  for (const auto& [text, want] : cases) {
    SCOPED_TRACE(want);
    ModelConfig c;
    try {
      c = config_of(text);
    } catch (const std::exception& ex) {
      FAIL() << "config did not parse: " << ex.what() << "\n" << text;
    }
    auto m = std::make_shared<LanguageModel>(c);
    const std::string msg = test::error_of<UserError>([&] { export_hf(*m); });
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
    EXPECT_NE(msg.find("no Hugging Face"), std::string::npos) << msg;
  }
}

TEST(HfExport, CliWritesFilesThatImportBack) {
  TempDir d("hfexp");
  const std::string train = "train -q -c gpt-tiny --set train.steps=2 --set run.threads=1 --out ";
  auto r = test::run_lmforge(train + d / "rope");
  ASSERT_EQ(r.code, 0) << r.output;
  // gpt-tiny has rotary positions: refused, nothing written.
  r = test::run_lmforge("export-hf --checkpoint " + d / "rope" + " --out " + d / "hf_rope");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.position = \"rope\""), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d / "hf_rope"));
  r = test::run_lmforge(train + d / "run --set model.position=learned");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_lmforge("export-hf --json --checkpoint " + d / "run" + " --out " + d / "hf");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["family"], "gpt2");
  auto cfg = nlohmann::json::parse(test::read_text(d / "hf/config.json"));
  EXPECT_EQ(cfg["architectures"][0], "GPT2LMHeadModel");
  EXPECT_EQ(cfg["activation_function"], "gelu");
  // An existing, non-empty --out is refused.
  r = test::run_lmforge("export-hf --checkpoint " + d / "run" + " --out " + d / "hf");
  EXPECT_EQ(r.code, 2) << r.output;
  r = test::run_lmforge("import-hf --from " + d / "hf" + " --out " + d / "back");
  ASSERT_EQ(r.code, 0) << r.output;
  LoadedRun a = load_run(d / "run", "cpu");
  HfImport b = import_hf(d / "hf");
  b.model->eval();
  at::Tensor ids = at::randint(64, {2, 16});
  ForwardContext ca, cb;
  const at::Tensor la = a.model->logits(a.model->hidden(ids, ca)), lb = b.model->logits(b.model->hidden(ids, cb));
  EXPECT_TRUE(at::equal(la, lb)) << "max |difference| " << (la - lb).abs().max().item<double>();
  // bf16 files hold bf16 tensors.
  r = test::run_lmforge("export-hf --dtype bf16 --checkpoint " + d / "run" + " --out " + d / "hf16");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_safetensors(d / "hf16/model.safetensors").at("wte.weight").scalar_type(), at::kBFloat16);
}

TEST(HfExport, Gpt2WithItsTokenizerJsonRoundTrips) {
  // A GPT-2-layout folder with a Hugging Face tokenizer.json (a byte-level BPE written by the
  // reference library, tests/golden/hf_tokenizers): import-hf brings the tokenizer, eval-lm runs on
  // text with it, and export-hf writes the same weights and the same tokenizer.json back.
  const std::string tok_file = std::string(LMFORGE_TEST_DATA_DIR) + "/hf_tokenizers/bytelevel_bpe.json";
  auto tok = data::HfTokenizer::from_path(tok_file);
  auto m = random_model(config_of(gpt2_toml().replace(gpt2_toml().find(str("vocab_size = ", V)), 15,
                                                      str("vocab_size = ", tok->vocab_size()))),
                        9);
  HfExport e = export_hf(*m);
  TempDir d("hfexp");
  fs::create_directories(d / "hf");
  write_safetensors(d / "hf/model.safetensors", e.tensors);
  test::write_text(d / "hf/config.json", e.config.dump());
  test::write_text(d / "hf/tokenizer.json", test::read_text(tok_file));
  auto r = test::run_lmforge("import-hf --from " + d / "hf" + " --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_text(d / "run/tokenizer/hf_tokenizer.json"), test::read_text(tok_file));
  const std::string text = "The quick brown fox jumps over the lazy dog.\nnaïve café 🙂\n";
  test::write_text(d / "valid.txt", text);
  r = test::run_lmforge("eval-lm --threads 1 --json --context 16 --stride 8 --checkpoint " + d / "run" + " --data " +
                        d / "valid.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const int64_t tokens = static_cast<int64_t>(tok->encode("The quick brown fox jumps over the lazy dog.").size() +
                                              tok->encode("naïve café 🙂").size() + 2);  // + one eos per line
  EXPECT_EQ(j["tokens"].get<int64_t>(), tokens) << j.dump();
  r = test::run_lmforge("export-hf --checkpoint " + d / "run" + " --out " + d / "hf2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(test::read_text(d / "hf2/tokenizer.json"), test::read_text(tok_file));
  const auto a = read_safetensors(d / "hf/model.safetensors"), b = read_safetensors(d / "hf2/model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, t] : a) EXPECT_TRUE(at::equal(t, b.at(k))) << k;
}
