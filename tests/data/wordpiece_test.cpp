// WordPiece as BERT: hand-made cases from google-research/bert tokenization_test.py, and ids of the
// real bert-base-uncased vocab checked against a transcription of BERT's tokenization.py
// (bench/peers/bert_tokenization_ref.py, Python 3.11 unicodedata 14.0).
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/data/wordpiece.h"
#include "../test_util.h"

using lmforge::data::bert_basic_tokenize;
using lmforge::data::WordPieceTokenizer;
using Strings = std::vector<std::string>;

namespace {
WordPieceTokenizer toy() {
  return WordPieceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed", "wa", "un", "runn",
                             "##ing", ","},
                            true, "toy");
}
}  // namespace

TEST(WordPiece, BasicLowerPunctWhitespace) {
  EXPECT_EQ(bert_basic_tokenize(" \tHeLLo!how  \n Are yoU?  ", true), (Strings{"hello", "!", "how", "are", "you", "?"}));
  EXPECT_EQ(bert_basic_tokenize("H\xC3\xA9llo", true), (Strings{"hello"}));  // Héllo: accent stripped
  EXPECT_EQ(bert_basic_tokenize(" \tHeLLo!how  \n Are yoU?  ", false), (Strings{"HeLLo", "!", "how", "Are", "yoU", "?"}));
  EXPECT_EQ(bert_basic_tokenize("H\xC3\xA9llo", false), (Strings{"H\xC3\xA9llo"}));
}

TEST(WordPiece, BasicChineseControlAndZeroWidth) {
  // ah博推zz: CJK ideographs become single words.
  EXPECT_EQ(bert_basic_tokenize("ah\xE5\x8D\x9A\xE6\x8E\xA8zz", true), (Strings{"ah", "\xE5\x8D\x9A", "\xE6\x8E\xA8", "zz"}));
  // NUL, U+FFFD, a control char and a zero-width space (Cf) vanish; NBSP (Zs) splits.
  EXPECT_EQ(bert_basic_tokenize(std::string("a\0b", 3) + "\xEF\xBF\xBD" + "c\x01" "d\xE2\x80\x8B" "e\xC2\xA0" "f", true),
            (Strings{"abcde", "f"}));
  // Unicode punctuation (category P) and ASCII symbols split: “$5”
  EXPECT_EQ(bert_basic_tokenize("\xE2\x80\x9C$5\xE2\x80\x9D", true), (Strings{"\xE2\x80\x9C", "$", "5", "\xE2\x80\x9D"}));
  // Malformed UTF-8 bytes are dropped, as BERT's decode(errors="ignore").
  EXPECT_EQ(bert_basic_tokenize("a\xFF" "b", true), (Strings{"ab"}));
}

TEST(WordPiece, FinalSigmaAsPythonLower) {
  // ΟΔΟΣ -> οδος with final ς; ΣΑ -> σα; ۓΣ (no cased letter before) -> ےσ (NFD strips the hamza); Ο.Σ. ('.' is case-ignorable
  // for the rule, but BERT splits it off as punctuation afterwards).
  EXPECT_EQ(bert_basic_tokenize("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", true), (Strings{"\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"}));
  EXPECT_EQ(bert_basic_tokenize("\xCE\xA3\xCE\x91", true), (Strings{"\xCF\x83\xCE\xB1"}));
  EXPECT_EQ(bert_basic_tokenize("\xDB\x93\xCE\xA3", true), (Strings{"\xDB\x92\xCF\x83"}));
  EXPECT_EQ(bert_basic_tokenize("\xCE\x9F.\xCE\xA3.", true), (Strings{"\xCE\xBF", ".", "\xCF\x82", "."}));
}

TEST(WordPiece, GreedyLongestMatch) {
  WordPieceTokenizer t = toy();
  EXPECT_EQ(t.tokenize("unwanted running"), (Strings{"un", "##want", "##ed", "runn", "##ing"}));
  EXPECT_EQ(t.tokenize("unwantedX running"), (Strings{"[UNK]", "runn", "##ing"}));
  EXPECT_EQ(t.tokenize(""), Strings{});
  EXPECT_EQ(t.tokenize("UNwant\xC3\xA9" "d,running"), (Strings{"un", "##want", "##ed", ",", "runn", "##ing"}));
}

TEST(WordPiece, LongWordIsUnknown) {
  std::vector<std::string> v{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##a"};
  WordPieceTokenizer t(v, true);
  EXPECT_EQ(t.encode(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(t.encode(std::string(101, 'a')), (std::vector<int64_t>{1}));
  // 100 code points of 2 bytes each are still one word of 100 characters, not 200.
  std::vector<std::string> v2{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\xC3\xB8", "##\xC3\xB8"};
  WordPieceTokenizer t2(v2, true);
  std::string w;
  for (int i = 0; i < 100; ++i) w += "\xC3\xB8";
  EXPECT_EQ(t2.encode(w).size(), 100u);
}

TEST(WordPiece, PairsSpecialsAndSaveLoad) {
  WordPieceTokenizer t = toy();
  std::string b = "running";
  auto p = t.encode_pair("unwanted", &b, 128);
  EXPECT_EQ(p.ids, (std::vector<int64_t>{2, 9, 6, 7, 3, 10, 11, 3}));
  EXPECT_EQ(p.segments, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  auto q = t.encode_pair("unwanted", &b, 6);  // 3 for A, 2 for B -> pops A first (longer)
  EXPECT_EQ(q.ids, (std::vector<int64_t>{2, 9, 6, 3, 10, 3}));
  EXPECT_EQ(t.decode({2, 9, 6, 7, 3}), "unwanted\n");
  lmforge::test::TempDir dir("wp");
  t.save(dir.path());
  auto back = lmforge::data::load_tokenizer(dir.path());
  EXPECT_EQ(back->kind(), "wordpiece");
  EXPECT_EQ(back->encode("unwanted running"), t.encode("unwanted running"));
  EXPECT_EQ(back->fingerprint(), t.fingerprint());
  EXPECT_THROW(WordPieceTokenizer({"[PAD]", "a"}, true), lmforge::InputError);
}

TEST(WordPiece, BertBaseUncasedVocab) {
  const std::string path = lmforge::test::shared_data("tokenizers/bert-base-uncased/vocab.txt");
  if (path.empty()) GTEST_SKIP() << "needs ../shared/data: tokenizers/bert-base-uncased/vocab.txt";
  auto t = WordPieceTokenizer::from_vocab_file(path);
  EXPECT_EQ(t->vocab_size(), 30522);
  EXPECT_EQ(t->pad_id(), 0);
  EXPECT_EQ(t->unk_id(), 100);
  EXPECT_EQ(t->cls_id(), 101);
  EXPECT_EQ(t->sep_id(), 102);
  EXPECT_EQ(t->mask_id(), 103);
  using V = std::vector<int64_t>;
  EXPECT_EQ(t->encode("Hello, World!"), (V{7592, 1010, 2088, 999}));
  EXPECT_EQ(t->encode("unaffable h\xC3\xA9llo na\xC3\xAFve Caf\xC3\xA9"), (V{14477, 20961, 3468, 7592, 15743, 7668}));
  EXPECT_EQ(t->encode("The quick brown fox jumped over the lazy dog's back."),
            (V{1996, 4248, 2829, 4419, 5598, 2058, 1996, 13971, 3899, 1005, 1055, 2067, 1012}));
  // ΟΔΟΣ Straße ﬁne İstanbul: Greek lower-casing, ß kept, the fi ligature, dotted capital I.
  EXPECT_EQ(t->encode("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 Stra\xC3\x9F" "e \xEF\xAC\x81ne \xC4\xB0stanbul"),
            (V{1169, 29722, 15297, 2358, 27807, 1984, 2638, 9960}));
  // 中文字符 and 日本語
  EXPECT_EQ(t->encode("\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE7\xAC\xA6 and \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"),
            (V{1746, 1861, 100, 100, 1998, 1864, 1876, 1950}));
  EXPECT_EQ(t->encode("tokenization wordpieces supercalifragilisticexpialidocious"),
            (V{19204, 3989, 2773, 11198, 2015, 3565, 9289, 10128, 29181, 24411, 4588, 10288, 19312, 21273, 10085, 6313}));
  EXPECT_EQ(t->encode(std::string(101, 'a')), (V{100}));
  EXPECT_EQ(t->encode("don't stop-believing (1990s) e-mail@x.com"),
            (V{2123, 1005, 1056, 2644, 1011, 8929, 1006, 4134, 1007, 1041, 1011, 5653, 1030, 1060, 1012, 4012}));
  EXPECT_EQ(t->encode("  tabs\tand\nnewlines  "), (V{21628, 2015, 1998, 2047, 12735}));
  // 한국어 텍스트: Hangul syllables decompose into jamo (NFD).
  EXPECT_EQ(t->encode("\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xED\x85\x8D\xEC\x8A\xA4\xED\x8A\xB8"),
            (V{1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008, 1467, 30009, 30020, 29997, 30017, 30003, 30017}));
  EXPECT_EQ(t->encode("x\xE2\x80\x8By"), (V{1060, 2100}));
  EXPECT_EQ(t->encode("emoji \xF0\x9F\x98\x80 ok"), (V{7861, 29147, 2072, 100, 7929}));
}
