// The report's reading of each suite; see findings.h.
#include "lmforge/report/findings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "lmforge/report/svg.h"

namespace lmforge::report {

using json = nlohmann::json;

namespace {

struct Row {
  std::string name;
  double quality;
  bool capped;  // stopped before its planned steps
};

std::string show(double v, const std::string& metric) {
  char buf[64];
  if (metric == "accuracy") std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * v);
  else if (v >= 100) std::snprintf(buf, sizeof(buf), "%.0f", v);
  else std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

// The plain-text sentences of one suite (escaped by the caller).
std::vector<std::string> read_suite(const json& suite, const json& runs) {
  const std::string name = suite.value("name", "");
  std::vector<std::string> out;
  const std::string lesson = suite.value("lesson", "");
  if (!lesson.empty()) out.push_back(lesson);
  std::vector<Row> rows;
  std::string metric;
  bool higher = true;
  int failed = 0;
  for (const auto& r : runs) {
    if (r.value("suite", "") != name) continue;
    const json m = r.value("metrics", json::object());
    if (r.value("status", "") != "ok" || !m.contains("quality") || !m["quality"].is_number()) {
      ++failed;
      continue;
    }
    metric = m.value("quality_metric", "quality");
    higher = m.value("higher_is_better", true);
    const bool capped = m.contains("planned_steps") && m.contains("steps") && m["steps"].is_number() &&
                        m["planned_steps"].is_number() && m["steps"].get<double>() < m["planned_steps"].get<double>();
    rows.push_back({r.value("name", ""), m["quality"].get<double>(), capped});
  }
  if (rows.empty()) {
    out.push_back("No model of this suite finished with a quality number, so it shows nothing yet.");
    return out;
  }
  std::sort(rows.begin(), rows.end(),
            [&](const Row& a, const Row& b) { return higher ? a.quality > b.quality : a.quality < b.quality; });
  const Row &best = rows.front(), &worst = rows.back();
  std::string s = "Best: " + best.name + " (" + show(best.quality, metric) + ")";
  if (rows.size() > 1) {
    s += "; worst: " + worst.name + " (" + show(worst.quality, metric) + ")";
    if (metric == "accuracy") {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.0f", 100 * (best.quality - worst.quality));
      s += std::string(", ") + buf + " points apart";
    } else if (best.quality > 0 && worst.quality > 0) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.2f", higher ? best.quality / worst.quality : worst.quality / best.quality);
      s += std::string(", ") + buf + "x apart";
    }
  }
  out.push_back(s + ".");
  const double bar = suite.value("bar", 0.0);
  if (bar > 0) {
    std::vector<std::string> pass, low;
    for (const auto& r : rows) {
      if (higher ? r.quality >= bar : r.quality <= bar) pass.push_back(r.name);
      if (higher ? r.quality < bar / 2 : r.quality > bar * 2) low.push_back(r.name);
    }
    std::string p = std::to_string(pass.size()) + " of " + std::to_string(rows.size()) + " reached the bar of " +
                    show(bar, metric) + (pass.empty() ? "" : ": " + join(pass)) + ".";
    if (!low.empty()) p += std::string(" Far from it (") + (higher ? "below half" : "above twice") + "): " + join(low) + ".";
    out.push_back(p);
  }
  std::vector<std::string> capped;
  for (const auto& r : rows)
    if (r.capped) capped.push_back(r.name);
  if (!capped.empty())
    out.push_back("Stopped by a time cap before their planned steps (a busy or slower machine), so their numbers "
                  "understate them: " + join(capped) + ".");
  if (failed > 0) out.push_back(std::to_string(failed) + " run(s) failed or gave no number; see the table.");
  return out;
}

}  // namespace

std::string findings_html(const json& suites, const json& runs) {
  std::string h;
  for (const auto& s : suites) {
    if (s.value("status", "") != "ran") continue;
    const auto lines = read_suite(s, runs);
    h += "<h3>" + html_escape(s.value("name", "")) + "</h3>\n<p>";
    for (size_t i = 0; i < lines.size(); ++i) h += (i ? " " : "") + html_escape(lines[i]);
    h += "</p>\n";
  }
  return h.empty() ? "" : "<h2>What the results show</h2>\n" + h;
}

std::string findings_markdown(const json& suites, const json& runs) {
  std::string m;
  for (const auto& s : suites) {
    if (s.value("status", "") != "ran") continue;
    m += "### " + s.value("name", std::string()) + "\n\n";
    for (const auto& l : read_suite(s, runs)) m += l + " ";
    m += "\n\n";
  }
  return m.empty() ? "" : "## What the results show\n\n" + m;
}

}  // namespace lmforge::report
