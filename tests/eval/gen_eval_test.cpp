// The generation evaluation: windows cut from the text as stated, the human side measured on the
// text itself, and `lmforge generate --eval` end to end with its bad inputs.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/eval/gen/gen_eval.h"
#include "lmforge/eval/gen/self_reinforcement.h"
#include "lmforge/models/language_model.h"

using namespace lmforge;
using lmforge::test::run_lmforge;
using lmforge::test::TempDir;

namespace {

std::shared_ptr<LanguageModel> tiny_decoder() {
  toml::table t = toml::parse(
      "[model]\nkind = \"decoder\"\nvocab_size = 9\nd_model = 16\nn_layers = 1\nmax_seq_len = 32\n"
      "[model.block]\nmixer = \"attention\"\nnorm = \"layernorm\"\nffn = \"mlp\"\n");
  at::manual_seed(2);
  return std::make_shared<LanguageModel>(parse_model_config(t["model"].as_table(), "model"));
}

}  // namespace

TEST(GenEval, WindowsAndHumanSide) {
  auto m = tiny_decoder();
  // 23 tokens: windows of 3 + 4 = 7 -> three windows, the rest unused.
  at::Tensor text = at::arange(23, at::kLong) % 9;
  eval::GenEvalOptions o;
  o.prefix_len = 3, o.continuation_len = 4, o.max_prompts = 10, o.batch = 2;
  eval::GenEvalSamples s = eval::generate_samples(*m, data::span_of(text), o);
  ASSERT_EQ(s.prefixes.size(), 3u);
  EXPECT_EQ(s.prefixes[1], (eval::TokenSeq{7, 8, 0}));
  EXPECT_EQ(s.human[1], (eval::TokenSeq{1, 2, 3, 4}));
  for (const auto& c : s.model) EXPECT_EQ(c.size(), 4u);
  o.mauve = false;
  o.sentence_end = 8;
  nlohmann::json r = eval::gen_eval_report(s, *m, o);
  // Human continuations 3456 | 1234 | 8012: no repeated n-gram in one; 8 ends one sentence (the third).
  EXPECT_EQ(r["human"]["seq_rep_1"].get<double>(), 0.0);
  EXPECT_EQ(r["human"]["sentences"].get<int64_t>(), 1);
  EXPECT_NEAR(r["human"]["distinct_1"].get<double>(), 8.0 / 12, 1e-12);
  EXPECT_FALSE(r.contains("mauve"));
  o.prefix_len = 30;
  EXPECT_THROW(eval::generate_samples(*m, data::span_of(text), o), UserError);
}

TEST(GenEval, FeaturesAreTheLastHiddenState) {
  auto m = tiny_decoder();
  torch::NoGradGuard ng;
  at::Tensor f = eval::featurize(*m, {{1, 2, 3}, {4, 5}, {3, 3, 3}}, 2);
  ForwardContext ctx;
  at::Tensor h = m->hidden(at::tensor(std::vector<int64_t>{4, 5}, at::kLong).view({1, 2}), ctx);
  EXPECT_TRUE(at::allclose(f[1], h[0][1].to(at::kDouble), 1e-6, 1e-6));
}

TEST(GenEval, CommandReportsBothSides) {
  TempDir d("geneval");
  std::string text;
  for (int i = 0; i < 12; ++i) text += " the cat sat on the mat . the dog sat too . \n a cat and a dog ran . \n";
  lmforge::test::write_text(d / "train.txt", text);
  auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + d / "train.txt" +
                       " --set data.tokenizer.kind=word --set data.tokenizer.vocab_size=0 --set train.seq_len=16" +
                       " --set train.steps=5 --set data.cache_dir=" + d / "cache" + " --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string base = "generate --threads 1 --checkpoint " + d / "run" + " --eval " + d / "train.txt";
  auto g = run_lmforge(base + " --prefix-len 5 --max-new 8 --prompts 12 --mauve-buckets 2 --out " + d / "gen.json");
  ASSERT_EQ(g.code, 0) << g.output;
  nlohmann::json j = nlohmann::json::parse(lmforge::test::read_text(d / "gen.json"));
  EXPECT_EQ(j["prompts"].get<int64_t>(), 12);
  EXPECT_EQ(j["model"]["mean_length"].get<double>(), 8.0);
  EXPECT_GT(j["human"]["sentences"].get<int64_t>(), 0);
  EXPECT_GE(j["mauve"].get<double>(), 0.0);
  EXPECT_LE(j["mauve"].get<double>(), 1.0);
  auto beam = run_lmforge(base + " --prefix-len 5 --max-new 4 --prompts 3 --beams 3 --no-mauve");
  EXPECT_EQ(beam.code, 0) << beam.output;
  // Bad input: one clear message each.
  auto both = run_lmforge(base + " --prompt 'the cat'");
  EXPECT_NE(both.code, 0);
  EXPECT_NE(both.output.find("exactly one of --prompt and --eval"), std::string::npos) << both.output;
  auto missing = run_lmforge("generate --checkpoint " + d / "run" + " --eval " + d / "nope.txt");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.output.find("nope.txt"), std::string::npos) << missing.output;
  auto sent = run_lmforge(base + " --sentence-end 'cat sat' --no-mauve");
  EXPECT_NE(sent.code, 0);
  EXPECT_NE(sent.output.find("--sentence-end 'cat sat' is not one token"), std::string::npos) << sent.output;
}

TEST(SelfReinforcement, CurvesEqualTheModelsProbabilities) {
  auto m = tiny_decoder();
  const eval::TokenSeq s{3, 4, 8};
  eval::SelfReinforcement r = eval::self_reinforcement(*m, {s, {5, 8}}, 3, /*start=*/0, 1);
  ASSERT_EQ(r.tp.size(), 3u);
  // By hand for the first sentence alone: [0] + s s s, token j of repetition k at 1 + 3(k-1) + j.
  eval::SelfReinforcement one = eval::self_reinforcement(*m, {s}, 3, 0);
  torch::NoGradGuard ng;
  std::vector<int64_t> seq{0, 3, 4, 8, 3, 4, 8, 3, 4, 8};
  ForwardContext ctx;
  at::Tensor p = m->logits(m->hidden(at::tensor(seq, at::kLong).view({1, -1}), ctx)).to(at::kDouble).softmax(-1)[0];
  for (int k = 0; k < 3; ++k) {
    double tp = 0, ip = 0, wr = 0;
    for (int j = 0; j < 3; ++j) {
      const int pos = 3 * k + j;  // predicts seq[pos + 1]
      const double pk = p[pos][seq[pos + 1]].item<double>(), p1 = p[j][seq[j + 1]].item<double>();
      tp += pk / 3, ip += (pk > p1) / 3.0, wr += (p[pos].argmax().item<int64_t>() == seq[pos + 1]) / 3.0;
    }
    EXPECT_NEAR(one.tp[k], tp, 1e-6);
    EXPECT_NEAR(one.ip[k], ip, 1e-12);
    EXPECT_NEAR(one.wr[k], wr, 1e-12);
  }
  EXPECT_EQ(one.ip[0], 0.0);  // never above itself
  EXPECT_THROW(eval::self_reinforcement(*m, {s}, 1, 0), UserError);
  EXPECT_THROW(eval::self_reinforcement(*m, {{1, 2, 3, 4, 5, 6, 7, 8}}, 5, 0), UserError);  // 41 > 32 positions
}

TEST(SelfReinforcement, PickSentencesStopsAtLineEnds) {
  // eos 0, end 8: "1 2 8 | 3 0 4 5 6 8 7 7 8": the 3 is cut by the line end.
  at::Tensor t = at::tensor(std::vector<int64_t>{1, 2, 8, 3, 0, 4, 5, 6, 8, 7, 7, 8}, at::kLong);
  auto s = eval::pick_sentences(data::span_of(t), 8, 0, 10, 3, 4);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1], (eval::TokenSeq{4, 5, 6, 8}));
  EXPECT_EQ(eval::pick_sentences(data::span_of(t), 8, 0, 1, 4, 4).size(), 1u);
}
