// eval-lm end to end on a small file the test writes: the token and word counts are exact, every
// token is scored once whatever the context/stride, and the numbers are consistent.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "../test_util.h"

using lmforge::test::run_lmforge;
using lmforge::test::TempDir;

namespace {

// 6 lines (one empty), 26 words + 6 end-of-lines = 32 words in the WikiText convention.
const char* kText =
    " = Title = \n"
    " the cat sat on the mat . \n"
    "\n"
    " the dog sat on the <unk> too . \n"
    " a cat and a dog . \n"
    " the end \n";

nlohmann::json eval_json(const std::string& run, const std::string& file, int context, int stride) {
  auto r = run_lmforge("eval-lm --threads 1 --checkpoint " + run + " --data " + file + " --json --context " +
                       std::to_string(context) + " --stride " + std::to_string(stride));
  EXPECT_EQ(r.code, 0) << r.output;
  auto start = r.output.find('{');
  return nlohmann::json::parse(r.output.substr(start));
}

}  // namespace

TEST(EvalLm, WordLevelCountsAreExactAndEveryTokenScoredOnce) {
  TempDir d("evallm");
  lmforge::test::write_text(d / "train.txt", std::string(kText) + kText + kText);
  lmforge::test::write_text(d / "valid.txt", kText);
  auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + d / "train.txt" +
                       " --set data.valid=" + d / "valid.txt" + " --set data.tokenizer.kind=word" +
                       " --set data.tokenizer.vocab_size=0 --set train.seq_len=8 --set train.steps=3" +
                       " --set data.cache_dir=" + d / "cache" + " --set run.threads=1 --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  double nll = -1;
  for (auto [c, s] : std::vector<std::pair<int, int>>{{4, 4}, {8, 2}, {16, 1}, {64, 32}}) {
    SCOPED_TRACE(testing::Message() << "context " << c << " stride " << s);
    nlohmann::json j = eval_json(d / "run", d / "valid.txt", c, s);
    EXPECT_EQ(j["words"].get<int64_t>(), 32);
    EXPECT_EQ(j["tokens"].get<int64_t>(), 32);  // word-level: one token per word
    EXPECT_EQ(j["bytes"].get<int64_t>(), static_cast<int64_t>(std::string(kText).size()));
    EXPECT_NEAR(j["word_ppl"].get<double>(), std::exp(j["nll"].get<double>() / 32), 1e-9);
    EXPECT_NEAR(j["bits_per_byte"].get<double>(),
                j["nll"].get<double>() / (std::log(2.0) * j["bytes"].get<double>()), 1e-12);
    // Every word of the valid file is in the training file; the literal <unk> is not counted.
    EXPECT_EQ(j["unk_fraction"].get<double>(), 0.0);
    if (c == 64) nll = j["nll"].get<double>();
  }
  // The full-context score is the best one.
  nlohmann::json disjoint = eval_json(d / "run", d / "valid.txt", 4, 4);
  EXPECT_LE(nll, disjoint["nll"].get<double>() + 1e-6);
}

TEST(EvalLm, UnknownWordsAreCounted) {
  TempDir d("evallm");
  lmforge::test::write_text(d / "train.txt", std::string(kText) + kText);
  lmforge::test::write_text(d / "valid.txt", " the zebra sat \n");  // zebra was never seen
  auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + d / "train.txt" +
                       " --set data.tokenizer.kind=word --set data.tokenizer.vocab_size=0 --set train.seq_len=8" +
                       " --set train.steps=1 --set data.cache_dir=" + d / "cache" + " --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  nlohmann::json j = eval_json(d / "run", d / "valid.txt", 8, 4);
  EXPECT_EQ(j["tokens"].get<int64_t>(), 4);
  EXPECT_DOUBLE_EQ(j["unk_fraction"].get<double>(), 0.25);
}

// (Cached decoding equals the full forward exactly in nn/attention_test.cpp; here, the command.)
TEST(EvalLm, GenerateRunsWithEverySampler) {
  TempDir d("gen");
  lmforge::test::write_text(d / "train.txt", std::string(kText) + kText);
  auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + d / "train.txt" +
                       " --set data.tokenizer.kind=word --set data.tokenizer.vocab_size=0 --set train.seq_len=8" +
                       " --set train.steps=5 --set data.cache_dir=" + d / "cache" + " --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  auto a = run_lmforge("generate --threads 1 --checkpoint " + d / "run" + " --prompt 'the cat' --max-new 12");
  auto b = run_lmforge("generate --threads 1 --checkpoint " + d / "run" + " --prompt 'the cat' --max-new 12 --no-cache");
  ASSERT_EQ(a.code, 0) << a.output;
  EXPECT_EQ(a.output.rfind("the cat", 0), 0u) << a.output;
  EXPECT_EQ(b.code, 0) << b.output;
  auto s = run_lmforge("generate --threads 1 --checkpoint " + d / "run" +
                       " --prompt 'the cat' --max-new 12 --temperature 0.9 --top-k 5 --top-p 0.9 --seed 3");
  EXPECT_EQ(s.code, 0) << s.output;
}
