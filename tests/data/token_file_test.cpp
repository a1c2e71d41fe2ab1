// Tests of the token cache: contents, reuse, stale and torn rebuilds, uint32 storage, errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "data_test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/data/byte_tokenizer.h"
#include "lmforge/data/token_file.h"
#include "lmforge/data/tokenizer.h"

namespace lmforge::data {
namespace {

using testing::TempDir;

TEST(DataTokenFile, ContentsCountsAndLines) {
  TempDir dir("tf");
  testing::write_text(dir.file("t.txt"), "ab c\n\nd\n");
  ByteTokenizer tok;
  bool rebuilt = false;
  TokenFile tf = TokenFile::open_or_build(tok, dir.file("t.txt"), dir.file("cache"), &rebuilt);
  EXPECT_TRUE(rebuilt);
  std::vector<int64_t> want = {'a', 'b', ' ', 'c', 256, 256, 'd', 256};
  ASSERT_EQ(tf.size(), 8);
  EXPECT_EQ(tf.dtype_bytes(), 2);
  at::Tensor all = tf.slice(0, 8);
  EXPECT_EQ(std::vector<int64_t>(all.data_ptr<int64_t>(), all.data_ptr<int64_t>() + 8), want);
  EXPECT_EQ(tf.slice(4, 6).sum().item<int64_t>(), 512);
  EXPECT_EQ(tf.num_lines(), 3);
  EXPECT_EQ(tf.line_start(0), 0);
  EXPECT_EQ(tf.line_start(1), 5);
  EXPECT_EQ(tf.line_start(2), 6);
  EXPECT_EQ(tf.line_start(3), 8);
  EXPECT_EQ(tf.counts().words, 2 + 0 + 1 + 3);
  EXPECT_EQ(tf.counts().bytes, 8);
  EXPECT_EQ(tf.fingerprint(), tok.fingerprint());
  EXPECT_THROW(tf.slice(3, 9), InputError);
  // from_bytes (the fuzzed entry point) reads the same file from memory.
  const std::string bytes = lmforge::read_file(tf.path());
  TokenFile mem = TokenFile::from_bytes(bytes, "mem.tok");
  EXPECT_EQ(mem.size(), 8);
  EXPECT_EQ(mem.num_lines(), 3);
  EXPECT_EQ(mem.line_start(2), 6);
  EXPECT_EQ(mem[6], 'd');
  EXPECT_EQ(mem.fingerprint(), tok.fingerprint());
  EXPECT_THROW(TokenFile::from_bytes(bytes.substr(0, 100), "short.tok"), InputError);
}

TEST(DataTokenFile, ReusesValidCacheRebuildsStaleOne) {
  TempDir dir("tf");
  testing::write_text(dir.file("t.txt"), "hello\nworld\n");
  ByteTokenizer tok;
  bool rebuilt = false;
  { TokenFile::open_or_build(tok, dir.file("t.txt"), dir.file("cache"), &rebuilt); }
  EXPECT_TRUE(rebuilt);
  TokenFile again = TokenFile::open_or_build(tok, dir.file("t.txt"), dir.file("cache"), &rebuilt);
  EXPECT_FALSE(rebuilt);
  EXPECT_EQ(again.size(), 12);
  // Edit the source: the cache is stale and rebuilt under the same name.
  testing::write_text(dir.file("t.txt"), "hello\nworld!\n");
  TokenFile fresh = TokenFile::open_or_build(tok, dir.file("t.txt"), dir.file("cache"), &rebuilt);
  EXPECT_TRUE(rebuilt);
  EXPECT_EQ(fresh.size(), 13);
  EXPECT_EQ(again.size(), 12);  // the old mapping stays readable (the file was replaced, not changed)
  // A torn cache file is rebuilt, not trusted.
  std::string cache = TokenFile::cache_path(tok, dir.file("t.txt"), dir.file("cache"));
  std::filesystem::resize_file(cache, 100);
  TokenFile mended = TokenFile::open_or_build(tok, dir.file("t.txt"), dir.file("cache"), &rebuilt);
  EXPECT_TRUE(rebuilt);
  EXPECT_EQ(mended.size(), 13);
  // No temporary files are left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.file("cache"))) {
    EXPECT_EQ(e.path().extension(), ".tok") << e.path();
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(DataTokenFile, OtherTokenizerGetsItsOwnCache) {
  TempDir dir("tf");
  std::string text = testing::synthetic_corpus(50);
  testing::write_text(dir.file("t.txt"), text);
  TokenizerOptions opts;
  opts.kind = "word";
  auto word = train_tokenizer(opts, dir.file("t.txt"), dir.file("work"));
  ByteTokenizer bytes;
  EXPECT_NE(TokenFile::cache_path(*word, dir.file("t.txt"), dir.file("c")),
            TokenFile::cache_path(bytes, dir.file("t.txt"), dir.file("c")));
  TokenFile a = TokenFile::open_or_build(*word, dir.file("t.txt"), dir.file("c"));
  TokenFile b = TokenFile::open_or_build(bytes, dir.file("t.txt"), dir.file("c"));
  EXPECT_EQ(a.size(), a.counts().words);  // word-level: one token per word, one eos per line
  EXPECT_EQ(b.size(), static_cast<int64_t>(text.size()));  // bytes, '\n' -> eos
}

TEST(DataTokenFile, LargeVocabularyUsesUint32) {
  TempDir dir("tf");
  std::string text;
  for (int i = 0; i < 70000; ++i) text += "w" + std::to_string(i) + (i % 10 == 9 ? "\n" : " ");
  testing::write_text(dir.file("t.txt"), text);
  TokenizerOptions opts;
  opts.kind = "word";
  opts.vocab_size = 0;
  auto tok = train_tokenizer(opts, dir.file("t.txt"), dir.file("work"));
  ASSERT_GT(tok->vocab_size(), 65536);
  TokenFile tf = TokenFile::open_or_build(*tok, dir.file("t.txt"), dir.file("c"));
  EXPECT_EQ(tf.dtype_bytes(), 4);
  EXPECT_EQ(tf.size(), 77000);
  auto ids = tok->encode("w69999");
  EXPECT_EQ(tf[tf.size() - 2], ids[0]);
  EXPECT_GT(ids[0], 65535);
}

TEST(DataTokenFile, ErrorsNameTheFile) {
  TempDir dir("tf");
  ByteTokenizer tok;
  try {
    TokenFile::open_or_build(tok, dir.file("absent.txt"), dir.file("c"));
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.txt: missing"), std::string::npos) << e.what();
  }
  testing::write_text(dir.file("junk.tok"), std::string(200, 'x'));
  try {
    TokenFile::open(dir.file("junk.tok"));
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.tok: not a token file"), std::string::npos)
        << e.what();
  }
}

// Fuzz regression (fuzz/token_file_fuzz.cpp): a header that passes every size check but whose line
// table says line 1 starts at token 0x0400000000000003, past the 4 tokens. It used to be accepted
// and line_start(1) then pointed far outside the tokens.
TEST(DataTokenFile, FuzzLineTableOutsideTokensIsRefused) {
  const std::string bytes(
      "\x4c\x4d\x46\x54\x4f\x4b\x53\x00\x01\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00"
      "\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00"
      "\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x32\x00\x00\x00\x00\x00\x00\x00"
      "\x01\x00\x00\x00\x00\x00\x1b\x00\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x61\x62\x63\x64\x65\x66"
      "\x80\x00\x00\x00\x00\x00\x00\x00\x88\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\xa0\x00\x00\x00\x00\x00\x00\x00\x05\x00\x06\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x03\x00\x00\x00\x00\x00\x00\x04\x04\x00\x00\x00\x00\x00\x00\x00",
      160);
  TempDir dir("tf");
  testing::write_text(dir.file("bad_lines.tok"), bytes);
  for (int mapped = 0; mapped < 2; ++mapped) {
    try {
      if (mapped) TokenFile::open(dir.file("bad_lines.tok"));
      else TokenFile::from_bytes(bytes, "bad_lines.tok");
      ADD_FAILURE() << "expected InputError";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("bad_lines.tok: torn or inconsistent token file (line table: line 1 starts"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(DataTokenFile, Wt103ValidWordLevel) {
  std::string path = testing::shared_data("wikitext-103/wiki.valid.tokens");
  if (path.empty()) GTEST_SKIP() << "needs ../shared/data: wikitext-103/wiki.valid.tokens";
  TempDir dir("tf");
  TokenizerOptions opts;
  opts.kind = "word";
  opts.vocab_size = 0;
  auto tok = train_tokenizer(opts, path, dir.file("work"));
  TokenFile tf = TokenFile::open_or_build(*tok, path, dir.file("c"));
  EXPECT_EQ(tf.size(), 217646);
  EXPECT_EQ(tf.counts().words, 217646);
  EXPECT_EQ(tf.num_lines(), 3760);
}

}  // namespace
}  // namespace lmforge::data
