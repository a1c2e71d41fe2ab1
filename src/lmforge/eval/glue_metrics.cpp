// GLUE metrics and aggregates; definitions in glue_metrics.h.
#include "lmforge/eval/glue_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "lmforge/core/error.h"

namespace lmforge::eval {

static void check_sizes(size_t a, size_t b) {
  LMF_REQUIRE(a == b, UserError, "metric: ", a, " predictions for ", b, " gold labels");
}

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
  check_sizes(pred.size(), gold.size());
  if (gold.empty()) return 0;
  int64_t c = 0;
  for (size_t i = 0; i < gold.size(); ++i) c += pred[i] == gold[i];
  return static_cast<double>(c) / static_cast<double>(gold.size());
}

double f1_positive(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold, int64_t positive) {
  check_sizes(pred.size(), gold.size());
  double tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    const bool p = pred[i] == positive, g = gold[i] == positive;
    tp += p && g, fp += p && !g, fn += !p && g;
  }
  return 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
}

double matthews_corr(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
  check_sizes(pred.size(), gold.size());
  std::map<int64_t, double> p, t;
  double c = 0, s = static_cast<double>(gold.size());
  for (size_t i = 0; i < gold.size(); ++i) {
    p[pred[i]] += 1, t[gold[i]] += 1;
    c += pred[i] == gold[i];
  }
  double pt = 0, pp = 0, tt = 0;
  for (const auto& [k, v] : p) {
    pp += v * v;
    auto it = t.find(k);
    if (it != t.end()) pt += v * it->second;
  }
  for (const auto& [k, v] : t) tt += v * v;
  const double den = std::sqrt((s * s - pp) * (s * s - tt));
  return den > 0 ? (c * s - pt) / den : 0.0;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  LMF_REQUIRE(x.size() == y.size(), UserError, "metric: ", x.size(), " predictions for ", y.size(), " gold scores");
  const double n = static_cast<double>(x.size());
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double a = x[i] - mx, b = y[i] - my;
    sxy += a * b, sxx += a * a, syy += b * b;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return std::max(-1.0, std::min(1.0, sxy / std::sqrt(sxx * syy)));
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) r[order[k]] = avg;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(average_ranks(x), average_ranks(y));
}

MetricList glue_classification_metrics(const std::string& task, const std::vector<int64_t>& pred,
                                       const std::vector<int64_t>& gold) {
  if (task == "CoLA" || task == "AX") return {{"mcc", 100 * matthews_corr(pred, gold)}};
  if (task == "MRPC") return {{"f1", 100 * f1_positive(pred, gold)}, {"acc", 100 * accuracy(pred, gold)}};
  if (task == "QQP") return {{"acc", 100 * accuracy(pred, gold)}, {"f1", 100 * f1_positive(pred, gold)}};
  return {{"acc", 100 * accuracy(pred, gold)}};
}

MetricList glue_regression_metrics(const std::vector<double>& pred, const std::vector<double>& gold) {
  return {{"pearson", 100 * pearson(pred, gold)}, {"spearman", 100 * spearman(pred, gold)}};
}

double task_score(const MetricList& m) {
  double s = 0;
  for (const auto& [k, v] : m) s += v;
  return m.empty() ? 0 : s / static_cast<double>(m.size());
}

GlueSummary summarize_glue(const std::map<std::string, MetricList>& results) {
  GlueSummary g;
  for (const auto& [name, m] : results) {
    if (name == "MNLI-m" || name == "MNLI-mm" || name == "AX") continue;
    g.task_score[name] = task_score(m);
  }
  auto m = results.find("MNLI-m"), mm = results.find("MNLI-mm");
  if (m != results.end() && mm != results.end())
    g.task_score["MNLI"] = (task_score(m->second) + task_score(mm->second)) / 2;
  static const char* kNine[] = {"CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI"};
  double s9 = 0, s8 = 0;
  int n9 = 0, n8 = 0;
  for (const char* t : kNine) {
    auto it = g.task_score.find(t);
    if (it == g.task_score.end()) continue;
    s9 += it->second, ++n9;
    if (std::string(t) != "WNLI") s8 += it->second, ++n8;
  }
  g.glue_complete = n9 == 9, g.avg8_complete = n8 == 8;
  g.glue_score = n9 ? s9 / n9 : 0;
  g.avg8 = n8 ? s8 / n8 : 0;
  g.avg_present = g.glue_score, g.n_present = n9;
  return g;
}

std::string glue_table(const std::map<std::string, MetricList>& results) {
  static const char* kOrder[] = {"CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI-m", "MNLI-mm", "QNLI", "RTE", "WNLI", "AX"};
  std::string out = "| task | metrics | task score |\n|---|---|---|\n";
  char buf[128];
  for (const char* t : kOrder) {
    auto it = results.find(t);
    if (it == results.end()) continue;
    std::string ms;
    for (const auto& [k, v] : it->second) {
      std::snprintf(buf, sizeof buf, "%s%s %.2f", ms.empty() ? "" : " / ", k.c_str(), v);
      ms += buf;
    }
    std::snprintf(buf, sizeof buf, "%.2f", task_score(it->second));
    out += std::string("| ") + t + " | " + ms + " | " + buf + " |\n";
  }
  GlueSummary g = summarize_glue(results);
  std::snprintf(buf, sizeof buf, "%.2f", g.glue_score);
  out += std::string("\nGLUE score (mean of 9 tasks, MNLI = mean(m, mm), AX excluded): ") +
         (g.glue_complete ? buf : str("n/a (", g.n_present, " of 9 tasks present)")) + "\n";
  std::snprintf(buf, sizeof buf, "%.2f", g.avg8);
  out += std::string("8-task average (WNLI excluded): ") + (g.avg8_complete ? buf : "n/a (not all 8 present)") + "\n";
  std::snprintf(buf, sizeof buf, "%.2f", g.avg_present);
  out += str("mean over the ", g.n_present, " tasks present: ", buf, "\n");
  return out;
}

}  // namespace lmforge::eval
