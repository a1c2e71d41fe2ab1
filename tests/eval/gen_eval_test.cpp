// The generation evaluation: windows cut from the text as stated, the human side measured on the
// text itself, and `lmforge generate --eval` end to end with its bad inputs.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/eval/gen/gen_eval.h"
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
