// Linear attention mixer: every feature map is causal, decodes with its recurrent state exactly
// like the full forward, trains its feature map (Hedgehog), and the maps compute the kernels they
// claim (Taylor: 1 + q.k/sqrt(d) + (q.k)^2/(2d); Hedgehog at init: softmax([x, -x])).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/autograd.h>

#include "lmforge/models/language_model.h"
#include "lmforge/core/precision.h"
#include "lmforge/nn/attention.h"
#include "lmforge/nn/linear_attention.h"
#include "../test_util.h"

using namespace lmforge;

namespace {

ModelConfig tiny(const std::string& map, const std::string& position) {
  toml::table t = parse_toml_string("vocab_size = 50\nd_model = 32\nn_layers = 2\nmax_seq_len = 64\nposition = \"" +
                                        position + "\"\n[block]\nmixer = \"linear_attention\"\n"
                                        "linear_attention = { n_heads = 4, chunk = 8, feature_map = \"" + map + "\" }\n",
                                    "test");
  return parse_model_config(&t, "model");
}

}  // namespace

class LinearAttentionMaps : public ::testing::TestWithParam<std::string> {};

TEST_P(LinearAttentionMaps, FutureTokensNeverChangePastOutputs) {
  at::manual_seed(0);
  LanguageModel m(tiny(GetParam(), "rope"));
  m.eval();
  at::Tensor a = at::randint(0, 50, {2, 20}, at::kLong), b = a.clone();
  b.narrow(1, 12, 8).random_(0, 50);
  ForwardContext c1, c2;
  at::Tensor ha = m.hidden(a, c1), hb = m.hidden(b, c2);
  EXPECT_EQ(test::causality_violation(ha, hb, 12), "");
}

TEST_P(LinearAttentionMaps, RecurrentDecodingEqualsFullForward) {
  at::manual_seed(1);
  LanguageModel m(tiny(GetParam(), "rope"));
  m.eval();
  torch::NoGradGuard ng;
  at::Tensor x = at::randint(0, 50, {2, 19}, at::kLong);
  ForwardContext full;
  at::Tensor ref = m.hidden(x, full);
  auto states = m.new_states();
  ForwardContext ctx;
  std::vector<at::Tensor> outs;
  outs.push_back(m.step(x.narrow(1, 0, 5), states, ctx));  // prefill (chunked kernel), then one token at a time
  ctx.pos_offset = 5;
  for (int64_t t = 5; t < 19; ++t) {
    outs.push_back(m.step(x.narrow(1, t, 1), states, ctx));
    ctx.pos_offset += 1;
  }
  EXPECT_TRUE(at::allclose(at::cat(outs, 1), ref, 1e-4, 1e-5)) << (at::cat(outs, 1) - ref).abs().max().item<double>();
}

TEST_P(LinearAttentionMaps, GradientsReachEveryParameter) {
  at::manual_seed(2);
  LanguageModel m(tiny(GetParam(), "none"));
  m.train();
  at::Tensor x = at::randint(0, 50, {2, 12}, at::kLong);
  ForwardContext ctx;
  ctx.training = true;
  m.hidden(x, ctx).pow(2).mean().backward();
  for (const auto& p : m.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

INSTANTIATE_TEST_SUITE_P(All, LinearAttentionMaps, ::testing::Values("hedgehog", "elu", "relu", "performer", "taylor"));

TEST(LinearAttentionFeatureMaps, TaylorKernelIsSecondOrderExp) {
  auto phi = make_feature_map("taylor", 1, 4, 0);
  at::Tensor q = at::randn({1, 1, 1, 4}, at::kDouble), k = at::randn({1, 1, 1, 4}, at::kDouble);
  const double qk = (q * k).sum().item<double>();
  const double got = (phi->forward(q, true) * phi->forward(k, false)).sum().item<double>();
  EXPECT_NEAR(got, 1 + qk / 2.0 + qk * qk / 8.0, 1e-12);
  EXPECT_EQ(phi->dim(), 21);
}

TEST(LinearAttentionFeatureMaps, HedgehogStartsAsSymmetricExpAndIsPositive) {
  auto phi = make_feature_map("hedgehog", 2, 3, 0);
  at::Tensor x = 30.0 * at::randn({1, 2, 5, 3});  // large inputs: no overflow through the softmax
  at::Tensor f = phi->forward(x, true);
  at::Tensor u = at::cat({x, -x}, -1).to(at::kDouble);
  EXPECT_TRUE(at::allclose(f.to(at::kDouble), at::softmax(u, -1), 1e-5, 1e-6));
  EXPECT_TRUE(at::isfinite(f).all().item<bool>());
  EXPECT_TRUE((f >= 0).all().item<bool>());
  EXPECT_EQ(phi->dim(), 6);
}

TEST(LinearAttentionFeatureMaps, PerformerEstimatesSoftmaxKernel) {
  // E[phi(q).phi(k)] = exp(q.k / sqrt(d)) for the unnormalised (key-side) features.
  at::manual_seed(3);
  auto phi = make_feature_map("performer", 1, 4, 20000);
  at::Tensor q = 0.5 * at::randn({1, 1, 1, 4}), k = 0.5 * at::randn({1, 1, 1, 4});
  const double want = std::exp((q * k).sum().item<double>() / 2.0);
  const double got = (phi->forward(q, false) * phi->forward(k, false)).sum().item<double>() * 20000.0 / 20000.0;
  EXPECT_NEAR(got, want, 0.05 * want);
}

TEST(LinearAttentionFeatureMaps, UnknownMapIsAConfigError) {
  EXPECT_THROW(make_feature_map("cosine", 1, 4, 0), ConfigError);
}

namespace {
LayerContext layer_ctx(int64_t d, const std::string& position) {
  LayerContext c;
  c.d_model = d, c.position = position;
  return c;
}
}  // namespace

TEST(LinearAttentionDistill, DistillModeReproducesTheSoftmaxTeacherAndBoundsTheLoss) {
  // A converted layer (attention's weights copied) in distill mode outputs exactly the softmax
  // attention layer's output, and its distillation cross-entropy is >= the teacher's entropy.
  at::manual_seed(5);
  AttentionOptions ao;
  ao.n_heads = 2;
  Attention teacher(ao, layer_ctx(16, "rope"));
  LinearAttentionMixerOptions lo;
  lo.n_heads = 2;
  LinearAttentionMixer student(lo, layer_ctx(16, "rope"));
  {
    at::NoGradGuard ng;
    auto tp = teacher.named_parameters();
    for (auto& p : student.named_parameters())
      if (const at::Tensor* src = tp.find(p.key())) p.value().copy_(*src);
  }
  teacher.eval(), student.eval();
  at::Tensor x = at::randn({2, 12, 16});
  ForwardContext c1, c2;
  at::Tensor want = teacher.forward(x, c1);
  student.set_distill(true);
  at::Tensor got = student.forward(x, c2);
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6)) << (got - want).abs().max().item<double>();
  ASSERT_EQ(c2.aux_losses.count("attn_distill.0"), 1u);
  // teacher entropy on the same q, k
  auto p = student.project(x, 0);
  at::Tensor s = at::matmul(p.q / std::sqrt(8.0), p.k.transpose(-2, -1));
  s = s.masked_fill(at::ones({12, 12}, at::kBool).triu(1), -INFINITY);
  at::Tensor A = at::softmax(s, -1);
  const double entropy = -(A * at::log(A + 1e-9)).sum(-1).mean().item<double>();
  EXPECT_GE(c2.aux_losses["attn_distill.0"].item<double>(), entropy - 1e-6);
  // and gradients reach only the feature maps through the loss
  c2.aux_losses["attn_distill.0"].backward();
  EXPECT_TRUE(student.query_map()->parameters()[0].grad().defined());
}

TEST(LinearAttentionDistill, ConvertCommandRunsBothStages) {
  test::TempDir dir("convert");
  const std::string t = dir / "teacher", o = dir / "conv";
  // The teacher's wall-clock cap must not carry over to the fine-tune (it once stopped one at step 7).
  ASSERT_EQ(test::run_lmforge("train -c gpt-tiny --set train.steps=4 --set train.max_minutes=14 --set run.threads=1 -q --out " + t).code, 0);
  test::CommandResult r = test::run_lmforge("convert --teacher " + t + " --out " + o +
                                " --distill-steps 3 --finetune-steps 2 --eval-batches 1 --threads 1 --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(std::ifstream(o + "/convert.json"));
  EXPECT_TRUE(std::isfinite(j["teacher_ppl"].get<double>()));
  EXPECT_TRUE(std::isfinite(j["finetuned_ppl"].get<double>()));
  EXPECT_TRUE(std::filesystem::exists(o + "/finetuned/checkpoint/model.safetensors"));
  const std::string cfg = test::read_text(o + "/finetuned/config.toml");
  EXPECT_NE(cfg.find("max_minutes = 0"), std::string::npos) << cfg;
  // a non-attention teacher is refused with one clear message
  test::CommandResult bad = test::run_lmforge("convert --teacher " + o + "/finetuned --out " + dir / "again");
  EXPECT_EQ(bad.code, 2) << bad.output;
}

TEST(LinearAttentionDistill, Bf16AutocastKeepsTheFeatureMapsInFp32) {
  // Under bf16 autocast only the projections round to bf16; large pre-activations must not
  // overflow the Hedgehog map, and the output stays close to the fp32 forward.
  at::manual_seed(6);
  LinearAttentionMixerOptions lo;
  lo.n_heads = 2;
  LinearAttentionMixer m(lo, layer_ctx(16, "rope"));
  m.eval();
  at::Tensor x = 20.0 * at::randn({2, 40, 16});
  ForwardContext c1, c2;
  at::Tensor ref = m.forward(x, c1);
  at::Tensor got;
  {
    AutocastGuard g(at::kBFloat16, at::Device("cpu"));
    got = m.forward(x, c2);
  }
  EXPECT_TRUE(at::isfinite(got).all().item<bool>());
  const double rel = ((got.to(at::kFloat) - ref).abs().max() / ref.abs().max()).item<double>();
  EXPECT_LT(rel, 5e-2);
}
