// Attention: causality, KV-cache decoding equals the full forward, positions, local windows.
#include <gtest/gtest.h>

#include "lmforge/models/language_model.h"
#include "../test_util.h"
#include "lmforge/nn/attention.h"
#include "lmforge/nn/positions.h"

using namespace lmforge;

namespace {

ModelConfig tiny(const std::string& mixer_opts, const std::string& position) {
  toml::table t = parse_toml_string("vocab_size = 50\nd_model = 32\nn_layers = 2\nmax_seq_len = 64\nposition = \"" +
                                        position + "\"\n[block]\nattention = { n_heads = 4" + mixer_opts + " }\n",
                                    "test");
  return parse_model_config(&t, "model");
}

}  // namespace

class AttentionPositions : public ::testing::TestWithParam<std::string> {};

TEST_P(AttentionPositions, FutureTokensNeverChangePastOutputs) {
  at::manual_seed(0);
  LanguageModel m(tiny("", GetParam()));
  m.eval();
  at::Tensor a = at::randint(0, 50, {2, 20}, at::kLong), b = a.clone();
  b.narrow(1, 12, 8).random_(0, 50);
  ForwardContext c1, c2;
  at::Tensor ha = m.hidden(a, c1), hb = m.hidden(b, c2);
  EXPECT_EQ(test::causality_violation(ha, hb, 12), "");
}

TEST_P(AttentionPositions, CachedDecodingEqualsFullForward) {
  at::manual_seed(1);
  LanguageModel m(tiny("", GetParam()));
  m.eval();
  torch::NoGradGuard ng;
  at::Tensor x = at::randint(0, 50, {2, 17}, at::kLong);
  ForwardContext full;
  at::Tensor ref = m.hidden(x, full);
  auto states = m.new_states();
  ForwardContext ctx;
  std::vector<at::Tensor> outs;
  // A prompt of 5 tokens, then one token at a time.
  outs.push_back(m.step(x.narrow(1, 0, 5), states, ctx));
  ctx.pos_offset = 5;
  for (int64_t t = 5; t < 17; ++t) {
    outs.push_back(m.step(x.narrow(1, t, 1), states, ctx));
    ctx.pos_offset += 1;
  }
  EXPECT_TRUE(at::allclose(at::cat(outs, 1), ref, 1e-5, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(All, AttentionPositions, ::testing::Values("learned", "rope", "alibi", "none"));

TEST(Attention, LocalWindowCacheEqualsFullForward) {
  at::manual_seed(2);
  LanguageModel m(tiny(", window = 4", "rope"));
  m.eval();
  torch::NoGradGuard ng;
  at::Tensor x = at::randint(0, 50, {1, 12}, at::kLong);
  ForwardContext full;
  at::Tensor ref = m.hidden(x, full);
  auto states = m.new_states();
  ForwardContext ctx;
  std::vector<at::Tensor> outs;
  for (int64_t t = 0; t < 12; ++t) {
    outs.push_back(m.step(x.narrow(1, t, 1), states, ctx));
    ctx.pos_offset += 1;
  }
  EXPECT_TRUE(at::allclose(at::cat(outs, 1), ref, 1e-5, 1e-5));
}

TEST(Attention, CoreMatchesNaiveSoftmax) {
  at::manual_seed(3);
  at::Tensor q = at::randn({1, 2, 5, 8}, at::kDouble), k = at::randn({1, 2, 5, 8}, at::kDouble),
             v = at::randn({1, 2, 5, 8}, at::kDouble);
  at::Tensor y = softmax_attention(q, k, v, true, 0, {}, {}, 0.0, false);
  for (int64_t i = 0; i < 5; ++i) {
    at::Tensor s = at::matmul(q.select(2, i).unsqueeze(2), k.narrow(2, 0, i + 1).transpose(-2, -1)) / std::sqrt(8.0);
    at::Tensor yi = at::matmul(at::softmax(s, -1), v.narrow(2, 0, i + 1)).squeeze(2);
    EXPECT_TRUE(at::allclose(y.select(2, i), yi, 1e-12, 1e-12)) << "row " << i;
  }
}

TEST(Attention, RopeIsRelative) {
  // <rope(q, m), rope(k, n)> depends on m - n only.
  at::manual_seed(4);
  at::Tensor q = at::randn({1, 1, 1, 16}, at::kDouble), k = at::randn({1, 1, 1, 16}, at::kDouble);
  auto dot = [&](int64_t m, int64_t n) {
    return (apply_rope(q, m, 10000.0) * apply_rope(k, n, 10000.0)).sum().item<double>();
  };
  EXPECT_NEAR(dot(3, 1), dot(10, 8), 1e-9);
  EXPECT_NEAR(dot(0, 5), dot(7, 12), 1e-9);
}

TEST(Attention, IndivisibleHeadsIsAConfigError) {
  toml::table t = parse_toml_string("vocab_size = 10\nd_model = 30\n[block]\nattention = { n_heads = 4 }\n", "t");
  ModelConfig c = parse_model_config(&t, "model");
  EXPECT_THROW(LanguageModel{c}, ConfigError);
}
