// GLUE readers on small files in each original layout (MNLI and QQP are not shipped, so their files
// are written here), and on the real files under ../shared/data/glue when present.
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/data/glue.h"
#include "lmforge/eval/glue_metrics.h"
#include "../test_util.h"

using namespace lmforge::data;
using lmforge::test::TempDir;
using lmforge::test::write_text;

TEST(GlueReader, ColaNoHeaderAndTestLayout) {
  TempDir d("glue");
  write_text(d / "dev.tsv", "gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tThe more does Bill smoke.\n");
  auto ex = read_glue_file(glue_task("cola"), d / "dev.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].a, "The sailors rode the breeze.");
  EXPECT_EQ(ex[0].label, 1);
  EXPECT_EQ(ex[1].label, 0);
  EXPECT_TRUE(ex[0].b.empty());
  write_text(d / "test.tsv", "index\tsentence\n0\tBill whistled past the house.\n");
  auto t = read_glue_file(glue_task("CoLA"), d / "test.tsv", GlueSplit::kTest);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].index, "0");
  EXPECT_EQ(t[0].a, "Bill whistled past the house.");
  EXPECT_EQ(t[0].label, -1);
}

TEST(GlueReader, MrpcBomStsbQqpSkipsShortRows) {
  TempDir d("glue");
  write_text(d / "mrpc.tsv", "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t11\t12\tA b.\t\"C d.\n0\t13\t14\tE.\tF.\r\n");
  auto m = read_glue_file(glue_task("MRPC"), d / "mrpc.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].a, "A b.");
  EXPECT_EQ(m[0].b, "\"C d.");  // no quote processing (GLUE reads with quotechar=None)
  EXPECT_EQ(m[1].label, 0);
  EXPECT_EQ(m[1].b, "F.");  // CR stripped
  write_text(d / "stsb.tsv",
             "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
             "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane.\tAn air plane.\t5.000\n"
             "1\tmain-news\tx\t2012\t0002\tnone\tnone\tOne.\tTwo.\t0.500\n");
  auto s = read_glue_file(glue_task("sts-b"), d / "stsb.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].a, "A plane.");
  EXPECT_DOUBLE_EQ(s[0].score, 5.0);
  EXPECT_DOUBLE_EQ(s[1].score, 0.5);
  EXPECT_TRUE(glue_task("STS-B").regression);
  write_text(d / "qqp.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                            "0\t1\t2\tHow?\tWhy?\t0\n1\t3\t4\tbroken row\n2\t5\t6\tWhat?\tWhat!\t1\n");
  auto q = read_glue_file(glue_task("QQP"), d / "qqp.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[1].a, "What?");
  EXPECT_EQ(q[1].label, 1);
  write_text(d / "qqp_test.tsv", "id\tquestion1\tquestion2\n7\tA?\tB?\n");
  auto qt = read_glue_file(glue_task("QQP"), d / "qqp_test.tsv", GlueSplit::kTest);
  EXPECT_EQ(qt[0].index, "7");
  EXPECT_EQ(qt[0].b, "B?");
}

TEST(GlueReader, MnliMatchedMismatchedLabelsAndTest) {
  TempDir d("glue");
  const std::string hdr = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
                          "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n";
  auto row = [](int i, const char* a, const char* b, const char* l) {
    return lmforge::str(i, "\t1\t1e\tfiction\t(x)\t(y)\t(X x)\t(Y y)\t", a, "\t", b, "\t", l, "\t", l, "\n");
  };
  write_text(d / "dev_matched.tsv", hdr + row(0, "P0.", "H0.", "neutral") + row(1, "P1.", "H1.", "contradiction") +
                                       row(2, "P2.", "H2.", "entailment"));
  auto ex = read_glue_file(glue_task("mnli"), d / "dev_matched.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(ex.size(), 3u);
  // HF glue ids: entailment 0, neutral 1, contradiction 2 (not the old TSV processor's order).
  EXPECT_EQ(ex[0].label, 1);
  EXPECT_EQ(ex[1].label, 2);
  EXPECT_EQ(ex[2].label, 0);
  EXPECT_EQ(ex[0].a, "P0.");
  EXPECT_EQ(ex[0].b, "H0.");
  // A dev_mismatched row with extra annotator columns (label still last).
  write_text(d / "dev_mismatched.tsv",
             hdr + "0\t1\t1e\tletters\t(x)\t(y)\t(X)\t(Y)\tPm.\tHm.\tneutral\tneutral\tneutral\tneutral\tcontradiction\n");
  auto mm = read_glue_file(glue_task("MNLI"), d / "dev_mismatched.tsv", GlueSplit::kLabeled);
  EXPECT_EQ(mm[0].label, 2);
  EXPECT_EQ(glue_task("MNLI").dev_files, (std::vector<std::string>{"dev_matched.tsv", "dev_mismatched.tsv"}));
  EXPECT_EQ(glue_task("MNLI").submission, (std::vector<std::string>{"MNLI-m.tsv", "MNLI-mm.tsv"}));
  write_text(d / "test_matched.tsv", "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\n"
                                     "9\t1\t1\tfiction\t(x)\t(y)\t(X)\t(Y)\tTP.\tTH.\n");
  auto t = read_glue_file(glue_task("MNLI"), d / "test_matched.tsv", GlueSplit::kTest);
  EXPECT_EQ(t[0].index, "9");
  EXPECT_EQ(t[0].a, "TP.");
}

TEST(GlueReader, NliLabelsAndErrors) {
  TempDir d("glue");
  write_text(d / "rte.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tnot_entailment\n1\tC.\tD.\tentailment\n");
  auto r = read_glue_file(glue_task("RTE"), d / "rte.tsv", GlueSplit::kLabeled);
  EXPECT_EQ(r[0].label, 1);
  EXPECT_EQ(r[1].label, 0);
  write_text(d / "bad.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tmaybe\n");
  try {
    read_glue_file(glue_task("RTE"), d / "bad.tsv", GlueSplit::kLabeled);
    FAIL() << "expected InputError";
  } catch (const lmforge::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("maybe"), std::string::npos) << e.what();
  }
  write_text(d / "short.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\n");
  EXPECT_THROW(read_glue_file(glue_task("WNLI"), d / "short.tsv", GlueSplit::kLabeled), lmforge::InputError);
  EXPECT_THROW(glue_task("squad"), lmforge::UserError);
  EXPECT_EQ(glue_task("diagnostic").name, "AX");
  EXPECT_EQ(glue_task("ax").labels, (std::vector<std::string>{"entailment", "neutral", "contradiction"}));
}

TEST(GlueReader, RealFilesCountsAndWnliMajority) {
  const std::string root = lmforge::test::shared_data("glue");
  if (root.empty()) GTEST_SKIP() << "needs ../shared/data: glue/";
  struct C {
    const char* task;
    const char* file;
    GlueSplit split;
    size_t n;
  };
  for (const C& c : {C{"CoLA", "dev.tsv", GlueSplit::kLabeled, 1043}, C{"CoLA", "test.tsv", GlueSplit::kTest, 1063},
                     C{"SST-2", "dev.tsv", GlueSplit::kLabeled, 872}, C{"MRPC", "dev.tsv", GlueSplit::kLabeled, 408},
                     C{"MRPC", "train.tsv", GlueSplit::kLabeled, 3668}, C{"STS-B", "dev.tsv", GlueSplit::kLabeled, 1500},
                     C{"STS-B", "train.tsv", GlueSplit::kLabeled, 5749}, C{"RTE", "dev.tsv", GlueSplit::kLabeled, 277},
                     C{"RTE", "train.tsv", GlueSplit::kLabeled, 2490}, C{"WNLI", "train.tsv", GlueSplit::kLabeled, 635},
                     C{"QNLI", "dev.tsv", GlueSplit::kLabeled, 5463}, C{"AX", "diagnostic.tsv", GlueSplit::kTest, 1104}}) {
    const GlueTask& t = glue_task(c.task);
    auto ex = read_glue_file(t, root + "/" + t.dir + "/" + c.file, c.split);
    EXPECT_EQ(ex.size(), c.n) << c.task << " " << c.file;
  }
  // Spec oracle: WNLI majority-class dev accuracy = 56.34 (40/71).
  auto w = read_glue_file(glue_task("WNLI"), root + "/WNLI/dev.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(w.size(), 71u);
  std::vector<int64_t> gold;
  int64_t ones = 0;
  for (const auto& e : w) gold.push_back(e.label), ones += e.label;
  const int64_t majority = ones * 2 > 71 ? 1 : 0;
  EXPECT_NEAR(100 * lmforge::eval::accuracy(std::vector<int64_t>(71, majority), gold), 56.34, 0.005);
}

// read_glue_text (the fuzzed entry point) reads what read_glue_file reads, errors included.
TEST(GlueReader, TextInMemoryMatchesFile) {
  TempDir d("glue");
  const std::string text = "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\r\n\n1\tC.\tD.\tnot_entailment";
  write_text(d / "rte.tsv", text);
  auto f = read_glue_file(glue_task("RTE"), d / "rte.tsv", GlueSplit::kLabeled);
  auto m = read_glue_text(glue_task("RTE"), text, "rte.tsv", GlueSplit::kLabeled);
  ASSERT_EQ(f.size(), 2u);
  ASSERT_EQ(m.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(m[i].a, f[i].a);
    EXPECT_EQ(m[i].b, f[i].b);
    EXPECT_EQ(m[i].label, f[i].label);
  }
  try {
    read_glue_text(glue_task("RTE"), "h\n0\tA.\tB.\tmaybe\n", "bad.tsv", GlueSplit::kLabeled);
    ADD_FAILURE() << "expected InputError";
  } catch (const lmforge::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("file bad.tsv line 2: label 'maybe'"), std::string::npos) << e.what();
  }
}
