// LoRA oracles (spec section 2): the adapted model starts as the base (B = 0); merged forward ==
// unmerged forward (fp64 1e-12, fp32 1e-5) and unmerge restores the base weights; only adapter
// parameters get gradients and reach the optimizer; the PEFT checkpoint holds only the adapters
// (+ head) and refuses another base; bad targets and ranks are clear errors.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "../test_util.h"
#include "peft_test_util.h"
#include "lmforge/core/glob.h"
#include "lmforge/models/peft.h"
#include "lmforge/models/sequence_classifier.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/peft_checkpoint.h"

namespace lmforge {
namespace {

ModelConfig encoder_config() {
  toml::table t = toml::parse(
      "kind = \"encoder\"\nvocab_size = 40\nd_model = 16\nn_layers = 2\nmax_seq_len = 16\nposition = \"learned\"\n"
      "final_norm = false\n[block]\nnorm_position = \"post\"\nattention = { n_heads = 2 }\n");
  return parse_model_config(&t);
}

PeftConfig lora(int64_t rank = 4) {
  PeftConfig p;
  p.kind = "lora";
  p.rank = rank;
  return p;
}

// The LoRA product is non-zero after this (B starts at 0, which would make merge trivially right).
void randomize_adapters(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& q : m.named_parameters())
    if (q.key().find("lora.") != std::string::npos) q.value().normal_(0.0, 0.3);
}

void merged_equals_unmerged(at::ScalarType dt, double tol) {
  at::manual_seed(3);
  auto lm = std::make_shared<LanguageModel>(encoder_config());
  lm->to(dt);
  apply_peft(*lm, lora());
  randomize_adapters(*lm);
  lm->eval();
  const at::Tensor ids = at::randint(0, 40, {2, 7});
  ForwardContext c1, c2, c3;
  const at::Tensor w0 = lm->named_parameters()["layers.0.mixer.qkv.weight"].clone();
  at::Tensor a = lm->hidden(ids, c1);
  EXPECT_EQ(merge_lora(*lm), 8);  // qkv, out, fc1, fc2 in each of 2 layers
  at::Tensor b = lm->hidden(ids, c2);
  EXPECT_LT((a - b).abs().max().item<double>(), tol) << c10::toString(dt);
  EXPECT_GT((lm->named_parameters()["layers.0.mixer.qkv.weight"] - w0).abs().max().item<double>(), 1e-3);
  EXPECT_EQ(unmerge_lora(*lm), 8);
  EXPECT_LT((lm->named_parameters()["layers.0.mixer.qkv.weight"] - w0).abs().max().item<double>(), tol);
  at::Tensor c = lm->hidden(ids, c3);
  EXPECT_LT((a - c).abs().max().item<double>(), tol);
}

TEST(Lora, MergedEqualsUnmergedFp64) { merged_equals_unmerged(at::kDouble, 1e-12); }
TEST(Lora, MergedEqualsUnmergedFp32) { merged_equals_unmerged(at::kFloat, 1e-5); }

TEST(Lora, StartsAsTheBaseModel) {
  at::manual_seed(4);
  auto lm = std::make_shared<LanguageModel>(encoder_config());
  lm->eval();
  const at::Tensor ids = at::randint(0, 40, {2, 7});
  ForwardContext c1, c2;
  at::Tensor before = lm->hidden(ids, c1);
  PeftSummary s = apply_peft(*lm, lora());
  EXPECT_EQ(s.adapted.size(), 8u);
  EXPECT_EQ(lm->hidden(ids, c2).sub(before).abs().max().item<double>(), 0.0);
}

TEST(Lora, OnlyAdaptersAndHeadTrain) {
  at::manual_seed(5);
  auto lm = std::make_shared<LanguageModel>(encoder_config());
  PeftConfig p = lora();
  p.targets = {"*.mixer.qkv"};
  PeftSummary s = apply_peft(*lm, p);
  EXPECT_EQ(s.trainable, 2 * (4 * 16 + 48 * 4));
  auto clf = std::make_shared<SequenceClassifier>(lm, 2, 0.0);
  randomize_adapters(*clf);  // with B = 0, A's gradient would be 0 too
  test::expect_gradients_only_on_adapters_and_head(*clf, ".lora.", 40, 7);
  BuiltOptimizer built = build_optimizer(Choice{"adamw", {}}, *clf, 1e-3, 0.01, "test");
  int64_t in_opt = 0;
  for (const auto& g : built.optimizer->param_groups()) in_opt += static_cast<int64_t>(g.params().size());
  EXPECT_EQ(in_opt, 2 * 2 + 4);  // A, B per layer; pooler and head weight + bias
}

TEST(Lora, CheckpointHoldsAdaptersAndRefusesAnotherBase) {
  test::TempDir d("lora");
  at::manual_seed(6);
  auto base = std::make_shared<LanguageModel>(encoder_config());
  save_checkpoint(d / "base", *base, nullptr, {{"step", 0}}, toml::table{});
  auto lm = std::make_shared<LanguageModel>(encoder_config());
  load_weights(d / "base/checkpoint/model.safetensors", *lm);
  apply_peft(*lm, lora());
  randomize_adapters(*lm);
  const std::vector<std::string> names = trainable_parameter_names(*lm);
  auto only = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  nlohmann::json state = {{"peft_base", peft_base_pointer(d / "base")}};
  save_checkpoint(d / "ft", *lm, nullptr, state, toml::table{}, only);
  // Only A and B of the 8 adapted layers are in the file.
  auto lm2 = std::make_shared<LanguageModel>(encoder_config());
  load_weights(d / "base/checkpoint/model.safetensors", *lm2);
  apply_peft(*lm2, lora());
  load_weights(d / "ft/checkpoint/model.safetensors", *lm2, only);
  EXPECT_EQ(names.size(), 16u);
  EXPECT_TRUE(lm2->named_parameters()["layers.1.ffn.fc2.lora.B"].equal(lm->named_parameters()["layers.1.ffn.fc2.lora.B"]));
  // The full model cannot be loaded from it: the base weights are not there.
  auto full = std::make_shared<LanguageModel>(encoder_config());
  EXPECT_NE(test::error_of<InputError>([&] { load_weights(d / "ft/checkpoint/model.safetensors", *full); }).find("has no tensor"),
            std::string::npos);
  EXPECT_EQ(check_peft_base(state["peft_base"], d / "ft"), state["peft_base"]["checkpoint"].get<std::string>());
  // Another model saved where the base was: refused, naming both checksums.
  at::manual_seed(7);
  save_checkpoint(d / "base", LanguageModel(encoder_config()), nullptr, {{"step", 0}}, toml::table{});
  std::string e = test::error_of<InputError>([&] { check_peft_base(state["peft_base"], d / "ft"); });
  EXPECT_NE(e.find("the adapters do not fit it"), std::string::npos) << e;
}

TEST(Lora, TargetThatMatchesNothingIsAnError) {
  auto lm = std::make_shared<LanguageModel>(encoder_config());
  PeftConfig p = lora();
  p.targets = {"*.mixer.qkv", "*.query"};
  std::string e = test::error_of<ConfigError>([&] { apply_peft(*lm, p); });
  EXPECT_NE(e.find("pattern '*.query' matches no linear layer"), std::string::npos) << e;
  EXPECT_NE(e.find("layers.0.mixer.qkv"), std::string::npos) << e;  // lists what there is
}

TEST(Lora, RankLargerThanTheMatrixIsAnError) {
  auto lm = std::make_shared<LanguageModel>(encoder_config());
  std::string e = test::error_of<ConfigError>([&] { apply_peft(*lm, lora(17)); });
  EXPECT_NE(e.find("rank 17 is larger than layer 'layers.0.mixer.qkv' allows"), std::string::npos) << e;
  EXPECT_NE(e.find("at most 16"), std::string::npos) << e;
}

TEST(Lora, ConfigKeysCheckedAndDumped) {
  toml::table t = toml::parse("kind = \"encoder\"\nvocab_size = 40\n[peft]\nkind = \"lora\"\nrnak = 4\n");
  std::string e = test::error_of<ConfigError>([&] { parse_model_config(&t); });
  EXPECT_NE(e.find("model.peft.rnak"), std::string::npos) << e;
  toml::table u = toml::parse("kind = \"encoder\"\nvocab_size = 40\n[peft]\nkind = \"lorra\"\n");
  e = test::error_of<ConfigError>([&] { parse_model_config(&u); });
  EXPECT_NE(e.find("model.peft.kind"), std::string::npos) << e;
  toml::table ok = toml::parse("kind = \"encoder\"\nvocab_size = 40\n[peft]\nkind = \"lora\"\nrank = 4\n");
  toml::table dumped = model_config_to_toml(parse_model_config(&ok));
  EXPECT_EQ(dumped["peft"]["rank"].value<int64_t>(), 4);
  EXPECT_EQ(dumped["peft"]["alpha"].value<double>(), 16.0);
}

TEST(Lora, GlobMatch) {
  EXPECT_TRUE(glob_match("*.mixer.qkv", "layers.0.mixer.qkv"));
  EXPECT_TRUE(glob_match("layers.1*", "layers.1.ffn.fc1"));
  EXPECT_FALSE(glob_match("*.mixer.qkv", "layers.0.mixer.qkv.lora"));
  EXPECT_TRUE(glob_match("*", "x"));
  EXPECT_FALSE(glob_match("a*b*c", "abxbx"));
  EXPECT_TRUE(glob_match("layers.?.ffn.*", "layers.3.ffn.fc2"));
  EXPECT_FALSE(glob_match("layers.?.ffn.*", "layers.13.ffn.fc2"));
  EXPECT_TRUE(glob_match_any({"x", "*.fc?"}, "layers.0.ffn.fc1"));
}

}  // namespace
}  // namespace lmforge
