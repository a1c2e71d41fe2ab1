// GLUE metrics against hand-computed values (the spec's oracles: constant predictions give MCC 0,
// ties in Spearman share their mean rank, the aggregate reproduces Turc et al.'s BERT-Tiny row).
#include <cmath>

#include <gtest/gtest.h>

#include "lmforge/eval/glue_metrics.h"

using namespace lmforge::eval;
using I = std::vector<int64_t>;
using D = std::vector<double>;

TEST(GlueMetrics, BinaryMccF1Accuracy) {
  I pred{1, 1, 1, 0, 0, 0, 1, 0}, gold{1, 1, 0, 0, 0, 1, 1, 0};
  // TP 3, FP 1, FN 1, TN 3: MCC = (9 - 1) / sqrt(4^4) = 0.5; F1 = 6 / 8; acc = 6 / 8.
  EXPECT_NEAR(matthews_corr(pred, gold), 0.5, 1e-12);
  EXPECT_NEAR(f1_positive(pred, gold), 0.75, 1e-12);
  EXPECT_NEAR(accuracy(pred, gold), 0.75, 1e-12);
  // Perfectly wrong predictions: MCC -1.
  I inv;
  for (auto g : gold) inv.push_back(1 - g);
  EXPECT_NEAR(matthews_corr(inv, gold), -1.0, 1e-12);
}

TEST(GlueMetrics, ConstantPredictionsGiveMccZero) {
  I gold{1, 0, 1, 1, 0};
  EXPECT_EQ(matthews_corr(I(5, 1), gold), 0.0);
  EXPECT_EQ(matthews_corr(I(5, 0), gold), 0.0);
  EXPECT_EQ(matthews_corr(gold, I(5, 1)), 0.0);  // constant gold too
  // All-negative predictions: no true positive, F1 0 (sklearn's zero_division default).
  EXPECT_EQ(f1_positive(I(5, 0), gold), 0.0);
  EXPECT_EQ(f1_positive(I(3, 0), I(3, 0)), 0.0);
}

TEST(GlueMetrics, MulticlassMcc) {
  // c = 3, s = 6, p = t = (2, 2, 2): (18 - 12) / sqrt((36 - 12)^2) = 0.25.
  EXPECT_NEAR(matthews_corr(I{0, 1, 2, 0, 1, 2}, I{0, 1, 2, 1, 2, 0}), 0.25, 1e-12);
}

TEST(GlueMetrics, PearsonAndSpearmanWithTies) {
  EXPECT_NEAR(pearson(D{1, 2, 3, 4}, D{2, 4, 5, 4}), 3.5 / std::sqrt(23.75), 1e-12);
  EXPECT_EQ(average_ranks(D{3, 1, 2, 2}), (D{4, 1, 2.5, 2.5}));
  EXPECT_EQ(average_ranks(D{5, 5, 5}), (D{2, 2, 2}));
  // ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): 4.5 / sqrt(4.5 * 5).
  EXPECT_NEAR(spearman(D{1, 2, 2, 3}, D{1, 3, 2, 4}), 4.5 / std::sqrt(22.5), 1e-12);
  EXPECT_NEAR(spearman(D{1, 2, 3, 4}, D{10, 20, 30, 1000}), 1.0, 1e-12);  // monotone
  EXPECT_TRUE(std::isnan(pearson(D{1, 1, 1}, D{1, 2, 3})));               // scipy gives nan too
}

TEST(GlueMetrics, TaskMetricsOrderAndScale) {
  I pred{1, 1, 1, 0, 0, 0, 1, 0}, gold{1, 1, 0, 0, 0, 1, 1, 0};
  MetricList mrpc = glue_classification_metrics("MRPC", pred, gold);
  ASSERT_EQ(mrpc.size(), 2u);
  EXPECT_EQ(mrpc[0].first, "f1");
  EXPECT_EQ(mrpc[1].first, "acc");
  MetricList qqp = glue_classification_metrics("QQP", pred, gold);
  EXPECT_EQ(qqp[0].first, "acc");
  EXPECT_NEAR(glue_classification_metrics("CoLA", pred, gold)[0].second, 50.0, 1e-9);
}

TEST(GlueMetrics, GlueScoreReproducesTurcTinyRow) {
  // BERT-Tiny GLUE test row (Turc et al.): score 64.2 as reported, 64.14 recomputed.
  std::map<std::string, MetricList> r = {
      {"CoLA", {{"mcc", 0.0}}}, {"SST-2", {{"acc", 83.2}}}, {"MRPC", {{"f1", 81.1}, {"acc", 71.1}}},
      {"STS-B", {{"pearson", 74.3}, {"spearman", 73.6}}}, {"QQP", {{"f1", 62.2}, {"acc", 83.4}}},
      {"MNLI-m", {{"acc", 70.2}}}, {"MNLI-mm", {{"acc", 70.3}}}, {"QNLI", {{"acc", 81.5}}},
      {"RTE", {{"acc", 57.2}}}, {"WNLI", {{"acc", 62.3}}}, {"AX", {{"mcc", 21.0}}}};
  GlueSummary g = summarize_glue(r);
  EXPECT_TRUE(g.glue_complete);
  EXPECT_NEAR(g.glue_score, 577.3 / 9, 1e-9);
  EXPECT_NEAR(g.avg8, 515.0 / 8, 1e-9);
  EXPECT_NEAR(g.task_score["MNLI"], 70.25, 1e-9);
  EXPECT_EQ(g.task_score.count("AX"), 0u);
  // Medium 8/512 row: 73.51.
  std::map<std::string, MetricList> m = {
      {"CoLA", {{"mcc", 38.0}}}, {"SST-2", {{"acc", 89.6}}}, {"MRPC", {{"f1", 86.6}, {"acc", 81.6}}},
      {"STS-B", {{"pearson", 80.4}, {"spearman", 78.4}}}, {"QQP", {{"f1", 69.6}, {"acc", 87.9}}},
      {"MNLI-m", {{"acc", 80.0}}}, {"MNLI-mm", {{"acc", 79.1}}}, {"QNLI", {{"acc", 87.7}}},
      {"RTE", {{"acc", 62.2}}}, {"WNLI", {{"acc", 62.3}}}};
  EXPECT_NEAR(summarize_glue(m).glue_score, 73.51, 0.005);
  // Incomplete: labelled as such in the table.
  std::map<std::string, MetricList> part = {{"SST-2", {{"acc", 80.0}}}, {"RTE", {{"acc", 60.0}}}};
  GlueSummary p = summarize_glue(part);
  EXPECT_FALSE(p.glue_complete);
  EXPECT_NEAR(p.avg_present, 70.0, 1e-12);
  EXPECT_NE(glue_table(part).find("n/a (2 of 9 tasks present)"), std::string::npos);
}
