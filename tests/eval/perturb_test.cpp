// Word swaps for the robustness evaluation (eval/perturb.h): rate 0 copies the text exactly, the
// word count and line structure are kept, the swap count follows the rate, swaps are deterministic
// under a seed and drawn from the file's own words; a rate outside [0, 1] is refused; and
// `eval-lm --swap-words/--lines` scores the attacked prefix with the same word count.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/eval/perturb.h"

using lmforge::test::read_text;
using lmforge::test::run_lmforge;
using lmforge::test::TempDir;
using lmforge::test::write_text;

namespace {

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream is(text);
  std::vector<std::string> w;
  std::string x;
  while (is >> x) w.push_back(x);
  return w;
}

std::string corpus() {
  std::string t;
  for (int i = 0; i < 400; ++i) t += " = Head " + std::to_string(i % 7) + " = \n the w" + std::to_string(i % 50) + " sat on a mat . \n\n";
  return t;
}

}  // namespace

TEST(WordSwap, RateZeroCopiesAndRatesAreFollowed) {
  TempDir d("swap");
  const std::string text = corpus();
  write_text(d / "in.txt", text);
  auto st = lmforge::write_word_swapped(d / "in.txt", d / "copy.txt", 0.0, 1);
  EXPECT_EQ(read_text(d / "copy.txt"), text);
  EXPECT_EQ(st.swapped, 0);
  const auto in_words = words_of(text);
  EXPECT_EQ(st.words, static_cast<int64_t>(in_words.size()));

  st = lmforge::write_word_swapped(d / "in.txt", d / "a.txt", 0.2, 7);
  const std::string a = read_text(d / "a.txt");
  const auto out_words = words_of(a);
  ASSERT_EQ(out_words.size(), in_words.size());
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), std::count(text.begin(), text.end(), '\n'));
  const double n = static_cast<double>(in_words.size()), sd = std::sqrt(n * 0.2 * 0.8);
  EXPECT_NEAR(static_cast<double>(st.swapped), 0.2 * n, 5 * sd);
  const std::set<std::string> vocab(in_words.begin(), in_words.end());
  int64_t changed = 0;
  for (size_t i = 0; i < in_words.size(); ++i) {
    EXPECT_TRUE(vocab.count(out_words[i])) << out_words[i];
    changed += out_words[i] != in_words[i];
  }
  EXPECT_GT(changed, 0);
  EXPECT_LE(changed, st.swapped);
  // Deterministic under the seed, different under another.
  lmforge::write_word_swapped(d / "in.txt", d / "b.txt", 0.2, 7);
  EXPECT_EQ(read_text(d / "b.txt"), a);
  lmforge::write_word_swapped(d / "in.txt", d / "c.txt", 0.2, 8);
  EXPECT_NE(read_text(d / "c.txt"), a);
  // A prefix of lines.
  st = lmforge::write_word_swapped(d / "in.txt", d / "p.txt", 0.0, 1, 3);
  EXPECT_EQ(st.lines, 3);
  EXPECT_EQ(read_text(d / "p.txt"), text.substr(0, text.find("\n\n") + 2));
  EXPECT_THROW(lmforge::write_word_swapped(d / "in.txt", d / "x.txt", 1.5, 1), lmforge::UserError);
}

TEST(WordSwap, EvalLmScoresTheAttackedPrefix) {
  TempDir d("swapcli");
  const std::string text = corpus();
  write_text(d / "train.txt", text);
  auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + d / "train.txt" + " --set data.valid=" +
                       d / "train.txt" + " --set data.tokenizer.kind=word --set data.tokenizer.vocab_size=0" +
                       " --set train.seq_len=16 --set train.steps=30 --set train.lr=3e-3 --set data.cache_dir=" + d / "cache" +
                       " --set run.threads=1 --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  auto eval = [&](const std::string& extra) {
    auto e = run_lmforge("eval-lm --json --threads 1 --checkpoint " + d / "run" + " --data " + d / "train.txt" + " --lines 60 " + extra);
    EXPECT_EQ(e.code, 0) << e.output;
    return nlohmann::json::parse(e.output.substr(e.output.find('{')));
  };
  const auto clean = eval(""), attacked = eval("--swap-words 0.3 --swap-seed 3");
  EXPECT_EQ(clean["lines"], 60);
  EXPECT_EQ(clean["words"], attacked["words"]);
  EXPECT_FALSE(clean.contains("word_swap"));
  EXPECT_EQ(attacked["word_swap"]["rate"], 0.3);
  EXPECT_GT(attacked["word_swap"]["swapped"].get<int64_t>(), 0);
  // The model learned the clean text's regularities; random words break them.
  EXPECT_GT(attacked["word_ppl"].get<double>(), clean["word_ppl"].get<double>());
  auto bad = run_lmforge("eval-lm --checkpoint " + d / "run" + " --data " + d / "train.txt" + " --swap-words 2");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("outside [0, 1]"), std::string::npos) << bad.output;
}
