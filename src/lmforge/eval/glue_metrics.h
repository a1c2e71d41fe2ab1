// GLUE metrics exactly as the benchmark defines them (Wang et al. 2018; the HF `glue` metric, i.e.
// sklearn/scipy), and the aggregate scores.
//   MCC (CoLA, AX): (c·s − Σ_k p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)) (Gorodkin's multiclass form;
//       for two classes it is (TP·TN − FP·FN)/sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))); 0 when the
//       denominator is 0 (constant predictions), as sklearn.
//   F1 of the positive class 1 (MRPC, QQP): 2TP / (2TP + FP + FN); 0 when there is no positive at all.
//   Pearson; Spearman = Pearson of the average ranks (ties share the mean rank), as scipy. Both are
//       NaN when one side is constant (scipy returns nan too).
// Task score = mean of its metrics (MRPC F1/acc, QQP acc/F1, STS-B P/S); MNLI = mean(m, mm).
// GLUE score = mean of the nine task scores (AX excluded); the 8-task average drops WNLI.
// All scores are reported ×100.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lmforge::eval {

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
double f1_positive(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold, int64_t positive = 1);
double matthews_corr(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);
// Average ranks (1-based; ties get the mean of their ranks), scipy.stats.rankdata("average").
std::vector<double> average_ranks(const std::vector<double>& x);

// The metrics of one task on one dev file, ×100, in the task's reporting order
// (CoLA: mcc; SST-2/QNLI/RTE/WNLI/MNLI-m/MNLI-mm: acc; MRPC: f1, acc; QQP: acc, f1; STS-B: pearson, spearman).
using MetricList = std::vector<std::pair<std::string, double>>;
MetricList glue_classification_metrics(const std::string& task, const std::vector<int64_t>& pred,
                                       const std::vector<int64_t>& gold);
MetricList glue_regression_metrics(const std::vector<double>& pred, const std::vector<double>& gold);

// Per task name (CoLA, SST-2, MRPC, STS-B, QQP, MNLI-m, MNLI-mm, QNLI, RTE, WNLI) -> its metrics.
struct GlueSummary {
  std::map<std::string, double> task_score;  // CoLA ... WNLI, MNLI = mean(m, mm)
  double glue_score = 0;                     // mean of nine; only when all nine present
  bool glue_complete = false;
  double avg8 = 0;  // mean of eight, WNLI excluded; only when those eight are present
  bool avg8_complete = false;
  double avg_present = 0;  // mean over the tasks present
  int64_t n_present = 0;
};
double task_score(const MetricList& m);
GlueSummary summarize_glue(const std::map<std::string, MetricList>& results);
// A Markdown table: one row per task present (metrics in reporting order, task score), then the
// labelled aggregates.
std::string glue_table(const std::map<std::string, MetricList>& results);

}  // namespace lmforge::eval
