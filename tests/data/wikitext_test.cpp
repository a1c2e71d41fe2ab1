// Tests of WikiText counting and line encoding, on files the tests write and on the real
// WikiText-103 validation split when ../shared/data is present.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/data/byte_tokenizer.h"
#include "lmforge/data/text_util.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/data/wikitext.h"

namespace lmforge::data {
namespace {

using testing::TempDir;

TEST(DataWikiText, CountsLinesWordsBytes) {
  TempDir dir("wt");
  // 4 lines: 3 + 0 + 2 + 1 words, +1 eos each = 10; bytes of the whole file.
  std::string text = " = Title = \n\n a  b\n c";
  testing::write_text(dir.file("t.tokens"), text);
  TextCounts c = count_text(dir.file("t.tokens"));
  EXPECT_EQ(c.lines, 4);
  EXPECT_EQ(c.words, 10);
  EXPECT_EQ(c.bytes, static_cast<int64_t>(text.size()));
}

TEST(DataWikiText, EncodesEveryLineWithEos) {
  TempDir dir("wt");
  testing::write_text(dir.file("t.tokens"), "ab\n\nc\n");
  ByteTokenizer tok;
  std::vector<std::vector<int64_t>> got;
  encode_lines(tok, dir.file("t.tokens"), [&](const std::vector<int64_t>& ids, int64_t line) {
    EXPECT_EQ(line, static_cast<int64_t>(got.size()) + 1);
    got.push_back(ids);
  });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (std::vector<int64_t>{'a', 'b', 256}));
  EXPECT_EQ(got[1], (std::vector<int64_t>{256}));
  EXPECT_EQ(got[2], (std::vector<int64_t>{'c', 256}));
}

TEST(DataWikiText, MissingFileNamesIt) {
  try {
    count_text("/nonexistent/wiki.valid.tokens");
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/wiki.valid.tokens: cannot be opened"),
              std::string::npos);
  }
}

TEST(DataWikiText, ArticleTitles) {
  EXPECT_TRUE(is_article_title(" = Valkyria Chronicles III = "));
  EXPECT_FALSE(is_article_title(" = = Gameplay = = "));
  EXPECT_FALSE(is_article_title(" The game = good = "));
  EXPECT_FALSE(is_article_title(""));
}

TEST(DataWikiText, Wt103ValidOfficialCount) {
  std::string path = testing::shared_data("wikitext-103/wiki.valid.tokens");
  if (path.empty()) GTEST_SKIP() << "needs ../shared/data: wikitext-103/wiki.valid.tokens";
  TextCounts c = count_text(path);
  EXPECT_EQ(c.words, 217646);  // the official count, one eos per line included
  EXPECT_EQ(c.lines, 3760);
  EXPECT_EQ(c.bytes, 1142309);
  // A word-level tokenizer trained on the file itself reproduces the count as tokens.
  TokenizerOptions opts;
  opts.kind = "word";
  opts.vocab_size = 0;
  TempDir dir("wt");
  auto tok = train_tokenizer(opts, path, dir.path());
  int64_t tokens = 0, articles = 0;
  encode_lines(*tok, path, [&](const std::vector<int64_t>& ids, int64_t) {
    tokens += static_cast<int64_t>(ids.size());
  });
  EXPECT_EQ(tokens, 217646);
  for_each_line(path, [&](std::string_view l, int64_t) {
    articles += is_article_title(l);
    return true;
  });
  EXPECT_EQ(articles, 60);  // WikiText-103 valid holds 60 articles
}

}  // namespace
}  // namespace lmforge::data
