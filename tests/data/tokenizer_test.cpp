// Tests of the byte and word tokenizers, save/load, fingerprints and load errors.
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/data/byte_tokenizer.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/data/word_vocab.h"

namespace lmforge::data {
namespace {

using testing::TempDir;
using testing::write_text;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DataByteTokenizer, RoundTripsEveryByte) {
  ByteTokenizer tok;
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  s += "héllo wörld ⁇";
  auto ids = tok.encode(s);
  ASSERT_EQ(ids.size(), s.size());
  EXPECT_EQ(tok.decode(ids), s);
  EXPECT_EQ(tok.vocab_size(), 258);
  EXPECT_EQ(tok.decode({'a', ByteTokenizer::kEos, ByteTokenizer::kPad, 'b'}), "a\nb");
  EXPECT_THROW(tok.decode({300}), InputError);
}

TEST(DataByteTokenizer, SavesAndLoads) {
  TempDir dir("byte");
  ByteTokenizer().save(dir.path());
  auto tok = load_tokenizer(dir.path());
  EXPECT_EQ(tok->kind(), "byte");
  EXPECT_EQ(tok->fingerprint(), ByteTokenizer().fingerprint());
}

TEST(DataWordTokenizer, VocabularyOrderAndSpecials) {
  TempDir dir("word");
  write_text(dir.file("train.txt"), " b a <unk> c a\n\n a b d <eos>\n");
  TokenizerOptions opts;
  opts.kind = "word";
  auto tok = train_tokenizer(opts, dir.file("train.txt"), dir.file("work"));
  // a:3, b:2, then c and d (count 1) in byte order.
  ASSERT_EQ(tok->vocab_size(), 7);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->piece(3), "a");
  EXPECT_EQ(tok->piece(4), "b");
  EXPECT_EQ(tok->piece(5), "c");
  EXPECT_EQ(tok->piece(6), "d");
  auto& word = dynamic_cast<WordTokenizer&>(*tok);
  EXPECT_EQ(word.count(1), 2);  // the literal <unk> and the literal <eos>
  EXPECT_EQ(tok->encode("  a <unk>\tzzz d "), (std::vector<int64_t>{3, 1, 1, 6}));
  EXPECT_EQ(tok->decode({3, 4, 2, 5, 0, 6}), "a b\nc d");
}

TEST(DataWordTokenizer, MinCountAndCap) {
  TempDir dir("word");
  write_text(dir.file("train.txt"), "a a a b b c\n");
  TokenizerOptions opts;
  opts.kind = "word";
  opts.min_count = 2;
  auto tok = train_tokenizer(opts, dir.file("train.txt"), dir.file("work"));
  EXPECT_EQ(tok->vocab_size(), 5);
  EXPECT_EQ(tok->encode("c"), (std::vector<int64_t>{1}));
  opts.min_count = 1;
  opts.vocab_size = 4;
  tok = train_tokenizer(opts, dir.file("train.txt"), dir.file("work"));
  EXPECT_EQ(tok->vocab_size(), 4);
  EXPECT_EQ(tok->encode("a b"), (std::vector<int64_t>{3, 1}));
}

TEST(DataWordTokenizer, RoundTripAndSaveLoad) {
  TempDir dir("word");
  std::string corpus = testing::synthetic_corpus(500);
  write_text(dir.file("train.txt"), corpus);
  TokenizerOptions opts;
  opts.kind = "word";
  opts.vocab_size = 0;
  auto tok = train_tokenizer(opts, dir.file("train.txt"), dir.file("work"));
  tok->save(dir.file("tok"));
  auto back = load_tokenizer(dir.file("tok"));
  EXPECT_EQ(back->kind(), "word");
  EXPECT_EQ(back->vocab_size(), tok->vocab_size());
  EXPECT_EQ(back->fingerprint(), tok->fingerprint());
  std::string line = "ka lo <unk> @-@ 1999 .";
  EXPECT_EQ(back->encode(line), tok->encode(line));
  EXPECT_EQ(back->decode(back->encode(line)), line);
}

TEST(DataTokenizerLoad, MissingAndMalformedFiles) {
  TempDir dir("load");
  EXPECT_NE(error_of([&] { load_tokenizer(dir.file("nope")); }).find("tokenizer.json: missing"),
            std::string::npos);
  write_text(dir.file("tokenizer.json"), "{ not json");
  EXPECT_NE(error_of([&] { load_tokenizer(dir.path()); }).find("not valid JSON"),
            std::string::npos);
  write_text(dir.file("tokenizer.json"), tokenizer_json("word"));
  EXPECT_NE(error_of([&] { load_tokenizer(dir.path()); }).find("vocab.txt: missing"),
            std::string::npos);
  write_text(dir.file("vocab.txt"), "<pad>\t0\n<unk>\t0\n<eos>\t0\nfoo 3\n");
  std::string msg = error_of([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(msg.find("vocab.txt:4: expected 'word<TAB>count'"), std::string::npos) << msg;
  write_text(dir.file("vocab.txt"), "<pad>\t0\n<eos>\t0\n");
  msg = error_of([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(msg.find("vocab.txt:2: expected the special '<unk>'"), std::string::npos) << msg;
  write_text(dir.file("tokenizer.json"), tokenizer_json("bpe"));
  msg = error_of([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(msg.find("spm.model: missing"), std::string::npos) << msg;
  write_text(dir.file("spm.model"), "garbage that is not a protobuf");
  msg = error_of([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(msg.find("spm.model: not a sentencepiece model"), std::string::npos) << msg;
}

TEST(DataTokenizerOptions, ValidationNamesTheKey) {
  TokenizerOptions o;
  o.kind = "sentencepiece";  // (wordpiece is a kind now: it needs 'vocab')
  EXPECT_NE(error_of([&] { o.validate(); }).find("'kind'"), std::string::npos);
  o.kind = "wordpiece";
  EXPECT_NE(error_of([&] { o.validate(); }).find("'vocab'"), std::string::npos);
  o.kind = "bpe";
  o.vocab_size = 100;
  EXPECT_NE(error_of([&] { o.validate(); }).find("'vocab_size'"), std::string::npos);
  o.vocab_size = 1000;
  o.min_count = 0;
  EXPECT_NE(error_of([&] { o.validate(); }).find("'min_count'"), std::string::npos);
  TempDir dir("opts");
  o.min_count = 1;
  EXPECT_NE(error_of([&] { train_tokenizer(o, dir.file("absent.txt"), dir.path()); })
                .find("absent.txt: missing"),
            std::string::npos);
}

}  // namespace
}  // namespace lmforge::data
