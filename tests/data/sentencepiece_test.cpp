// Tests of the subword tokenizers: our encoder against the spm_encode tool (the oracle) on a few
// hundred lines, our .model reader against spm_export_vocab, round trips, save/load.
// Training uses the first 2000 lines of WikiText-103's training prefix when ../shared/data is
// present, else a synthetic corpus; vocab 1000 keeps spm_train under a second.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "data_test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/core/subprocess.h"
#include "lmforge/data/sentencepiece_tokenizer.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {
namespace {

using testing::TempDir;

// Lines to encode: unseen WikiText (valid) lines when available, else synthetic ones, plus edge
// cases for the normaliser and byte fallback.
std::vector<std::string> probe_lines() {
  std::vector<std::string> lines;
  std::string valid = testing::shared_data("wikitext-103/wiki.valid.tokens");
  if (!valid.empty()) {
    for_each_line(valid, [&](std::string_view l, int64_t n) {
      if (n % 10 == 0) lines.emplace_back(l);
      return lines.size() < 300;
    });
  } else {
    std::istringstream ss(testing::synthetic_corpus(300, 99));
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
  }
  for (const char* s : {"", "   ", "a", "  multiple   spaces   here  ", "tab\tinside and\t\ttrailing\t",
                        "unicode 日本語 emoji 🎉 é ß Ω ∑", "<unk> at the start", "x<unk>y<unk><unk>",
                        "bad utf8 \xff\xfe here", "truncated \xe6\x97", " = = Heading = = ",
                        "▁ literal space symbol", "1999 @-@ 2000 , @.@"})
    lines.emplace_back(s);
  return lines;
}

class DataSentencePiece : public ::testing::TestWithParam<std::string> {
 protected:
  // Trained once per kind for the whole suite (spm_train is the slow part).
  struct Trained {
    TempDir dir{"spm"};
    std::unique_ptr<Tokenizer> tok;
  };
  void SetUp() override {
    if (!program_on_path("spm_train") || !program_on_path("spm_encode"))
      GTEST_SKIP() << "needs the sentencepiece command-line tools (Debian package sentencepiece)";
    static std::map<std::string, std::unique_ptr<Trained>> cache;
    auto& slot = cache[GetParam()];
    if (!slot) {
      auto trained = std::make_unique<Trained>();
      std::string train = testing::shared_data("wikitext-103/wiki.train.prefix.tokens");
      if (train.empty()) {
        train = trained->dir.file("synthetic.txt");
        testing::write_text(train, testing::synthetic_corpus(3000));
      }
      TokenizerOptions opts;
      opts.kind = GetParam();
      opts.vocab_size = 1000;
      opts.max_lines = 2000;
      trained->tok = train_tokenizer(opts, train, trained->dir.file("work"));
      slot = std::move(trained);
    }
    tok_ = slot->tok.get();
    work_ = slot->dir.file("work");
  }
  TempDir dir_{"spmtest"};
  Tokenizer* tok_ = nullptr;
  std::string work_;
};

TEST_P(DataSentencePiece, MatchesSpmEncodeIds) {
  auto lines = probe_lines();
  std::string in = dir_.file("probe.txt"), out = dir_.file("probe.ids");
  {
    std::ofstream f(in, std::ios::binary);
    for (const auto& l : lines) f << l << '\n';
  }
  int rc = run_process({"spm_encode", "--model=" + work_ + "/spm.model",
                        "--output_format=id", "--input=" + in, "--output=" + out},
                       dir_.file("encode.log"));
  ASSERT_EQ(rc, 0) << file_tail(dir_.file("encode.log"));
  std::ifstream f(out);
  std::string row;
  size_t i = 0, mismatches = 0;
  for (; std::getline(f, row); ++i) {
    ASSERT_LT(i, lines.size());
    std::vector<int64_t> want;
    std::istringstream ss(row);
    for (int64_t id; ss >> id;) want.push_back(id);
    auto got = tok_->encode(lines[i]);
    if (got != want && ++mismatches <= 5)
      ADD_FAILURE() << "line " << i << " '" << lines[i] << "': ids differ from spm_encode";
  }
  EXPECT_EQ(i, lines.size());
  EXPECT_EQ(mismatches, 0u);
}

TEST_P(DataSentencePiece, ModelReaderMatchesSpmExportVocab) {
  if (!program_on_path("spm_export_vocab")) GTEST_SKIP() << "needs spm_export_vocab";
  std::string out = dir_.file("export.vocab");
  ASSERT_EQ(run_process({"spm_export_vocab", "--model=" + work_ + "/spm.model",
                         "--output=" + out},
                        dir_.file("export.log")),
            0);
  auto& spm = dynamic_cast<SentencePieceTokenizer&>(*tok_);
  int64_t n = 0;
  for_each_line(out, [&](std::string_view line, int64_t number) {
    size_t tab = line.find('\t');
    EXPECT_NE(tab, std::string_view::npos);
    EXPECT_EQ(std::string(line.substr(0, tab)), spm.piece(number - 1)) << "line " << number;
    double score = std::stod(std::string(line.substr(tab + 1)));
    EXPECT_NEAR(score, spm.model().pieces[number - 1].score, 1e-5 * (1 + std::fabs(score)));
    ++n;
    return true;
  });
  EXPECT_EQ(n, tok_->vocab_size());
  EXPECT_EQ(tok_->vocab_size(), 1000);
  EXPECT_TRUE(spm.model().byte_fallback);
  EXPECT_EQ(spm.model().normalizer_name, "identity");
}

TEST_P(DataSentencePiece, IdsAndRoundTrip) {
  EXPECT_EQ(tok_->kind(), GetParam());
  EXPECT_EQ(tok_->pad_id(), 0);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->unk_id(), 3);
  EXPECT_EQ(tok_->piece(3), "<unk>");
  EXPECT_EQ(tok_->piece(4 + 0x41), "<0x41>");
  EXPECT_EQ(tok_->encode("<unk>"), (std::vector<int64_t>{tok_->encode("<unk>")[0], 3}));
  for (auto line : probe_lines()) {
    // Normal form: spaces collapsed and trimmed; malformed UTF-8 excluded (it becomes U+FFFD).
    std::string norm;
    bool valid = true;
    for (size_t i = 0; i < line.size();) {
      size_t n = utf8_valid_len(line.data() + i, line.size() - i);
      if (n == 0) { valid = false; break; }
      i += n;
    }
    // A literal U+2581 in the text decodes as a space, as in sentencepiece itself.
    if (!valid || line.find("\xE2\x96\x81") != std::string::npos) continue;
    for (char c : line)
      if (c != ' ' || (!norm.empty() && norm.back() != ' ')) norm += c;
    while (!norm.empty() && norm.back() == ' ') norm.pop_back();
    EXPECT_EQ(tok_->decode(tok_->encode(norm)), norm);
  }
  auto a = tok_->encode("one line"), b = tok_->encode("another");
  a.push_back(tok_->eos_id());
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(tok_->decode(a), "one line\nanother");
}

TEST_P(DataSentencePiece, SaveLoadKeepsEncoding) {
  tok_->save(dir_.file("saved"));
  auto back = load_tokenizer(dir_.file("saved"));
  EXPECT_EQ(back->kind(), GetParam());
  EXPECT_EQ(back->fingerprint(), tok_->fingerprint());
  for (const auto& l : probe_lines()) EXPECT_EQ(back->encode(l), tok_->encode(l));
}

INSTANTIATE_TEST_SUITE_P(Data, DataSentencePiece, ::testing::Values("bpe", "unigram"),
                         [](const auto& info) { return info.param; });

TEST(DataSentencePieceTrain, SameInputSameFingerprint) {
  if (!program_on_path("spm_train")) GTEST_SKIP() << "needs spm_train";
  TempDir dir("spmfp");
  testing::write_text(dir.file("c.txt"), testing::synthetic_corpus(1000));
  TokenizerOptions opts;
  opts.kind = "bpe";
  opts.vocab_size = 600;
  auto a = train_tokenizer(opts, dir.file("c.txt"), dir.file("work_a"));
  auto b = train_tokenizer(opts, dir.file("c.txt"), dir.file("work_b"));
  EXPECT_EQ(a->fingerprint(), b->fingerprint());  // spm.model bytes differ (paths), pieces do not
  opts.vocab_size = 601;
  auto c = train_tokenizer(opts, dir.file("c.txt"), dir.file("work_c"));
  EXPECT_NE(a->fingerprint(), c->fingerprint());
}

TEST(DataSentencePieceTrain, ReportsSpmTrainFailure) {
  if (!program_on_path("spm_train")) GTEST_SKIP() << "needs spm_train";
  TempDir dir("spmfail");
  testing::write_text(dir.file("tiny.txt"), "a b c\n");
  TokenizerOptions opts;
  opts.kind = "bpe";
  opts.vocab_size = 5000;  // far more than three letters can give
  try {
    train_tokenizer(opts, dir.file("tiny.txt"), dir.file("work"));
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("spm_train failed"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmforge::data
