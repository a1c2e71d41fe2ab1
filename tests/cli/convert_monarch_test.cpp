// `lmforge convert-monarch`: dense -> Monarch projection of a checkpoint's feed-forwards, then
// Monarch -> dense (exact: the converted-back model computes what the Monarch one does), projection
// of that dense model is exact (its weights are Monarch), fine-tuning the converted run works, and
// converting a run with nothing to convert is a clear user error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/trainer.h"

using namespace lmforge;
using lmforge::test::run_lmforge;
using lmforge::test::TempDir;

namespace {

nlohmann::json convert(const std::string& args) {
  auto r = run_lmforge("convert-monarch --json " + args);
  EXPECT_EQ(r.code, 0) << r.output;
  return nlohmann::json::parse(r.output.substr(r.output.find('{')));
}

at::Tensor hidden_of(const std::string& run, const at::Tensor& tokens) {
  LoadedRun lr = load_run(run, "cpu");
  ForwardContext ctx;
  torch::NoGradGuard g;
  return lr.model->hidden(tokens, ctx);
}

}  // namespace

TEST(ConvertMonarch, DenseToMonarchAndBack) {
  TempDir d("monarch");
  toml::table t = load_config("gpt-tiny");
  for (const char* kv : {"train.steps=3", "run.threads=1", "train.eval_every=0"}) apply_override(t, kv);
  TrainOptions o;
  o.run_dir = d / "dense";
  o.quiet = true;
  train(t, o);

  nlohmann::json j = convert("--checkpoint " + d / "dense" + " --out " + d / "monarch");
  ASSERT_EQ(j["layers"].size(), 4u);  // 2 layers x fc1, fc2
  for (const auto& l : j["layers"]) {
    EXPECT_GT(l["rel_frobenius_error"].get<double>(), 0.05);  // a trained dense matrix is not Monarch
    EXPECT_LT(l["rel_frobenius_error"].get<double>(), 1.0);
  }
  EXPECT_LT(j["parameters_after"].get<int64_t>(), j["parameters_before"].get<int64_t>());

  nlohmann::json back = convert("--to-dense --checkpoint " + d / "monarch" + " --out " + d / "dense2");
  at::Tensor tokens = at::randint(0, 64, {2, 16});
  EXPECT_TRUE(at::allclose(hidden_of(d / "monarch", tokens), hidden_of(d / "dense2", tokens), 1e-4, 1e-5));

  nlohmann::json again = convert("--checkpoint " + d / "dense2" + " --out " + d / "monarch2");
  for (const auto& l : again["layers"]) EXPECT_LT(l["rel_frobenius_error"].get<double>(), 1e-5);

  // Fine-tune the converted run from its projected weights.
  toml::table ft = load_config(d / "monarch/config.toml");
  apply_override(ft, "train.steps=2");
  TrainOptions fo;
  fo.run_dir = d / "finetune";
  fo.quiet = true;
  fo.init_weights = d / "monarch/checkpoint/model.safetensors";
  train(ft, fo);

  auto r = run_lmforge("convert-monarch --checkpoint " + d / "monarch" + " --out " + d / "x");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no mlp feed-forward"), std::string::npos) << r.output;
}
