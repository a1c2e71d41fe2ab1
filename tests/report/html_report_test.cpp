// The benchmark report from canned results (tests/report/canned_results.h): a complete HTML
// document with the sortable table (a row per run, the failed one with its error), every plot
// (loss curves, quality vs throughput, kernel speed-ups) with a legend entry per model, the
// command and config of every run, nothing that needs the network; and the CSV.
#include <cmath>
#include <regex>

#include <gtest/gtest.h>

#include "lmforge/report/html_report.h"
#include "lmforge/report/svg.h"
#include "canned_results.h"

namespace lmforge {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// The <svg ...>...</svg> element whose data-plot is `name` ("" when absent).
std::string plot(const std::string& html, const std::string& name) {
  const size_t at = html.find("data-plot=\"" + name + "\"");
  if (at == std::string::npos) return "";
  const size_t start = html.rfind("<svg", at), end = html.find("</svg>", at);
  return html.substr(start, end + 6 - start);
}

TEST(BenchReport, HtmlHasTableEveryPlotAndLegendPerModel) {
  const nlohmann::json r = test::canned_results();
  const std::string html = report::render_html(r);
  ASSERT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Balanced main elements.
  for (const char* tag : {"svg", "table", "details", "script", "style", "tbody"})
    EXPECT_EQ(count(html, std::string("<") + tag + (std::string(tag) == "svg" ? " " : "")),
              count(html, std::string("</") + tag + ">"))
        << tag;
  // Self-contained: no external resources.
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(std::regex_search(html, std::regex("(src|href)=\"https?:")), false);

  // Table: one row per run; the failed run is marked and shows its error (escaped name).
  EXPECT_NE(html.find("<table class=\"results\" id=\"results\">"), std::string::npos);
  EXPECT_EQ(count(html, "<tr class=\"status-"), 3u);
  EXPECT_NE(html.find("<tr class=\"status-failed\" data-model=\"broken&lt;mixer&gt;\">"), std::string::npos);
  EXPECT_NE(html.find("training diverged at step 12"), std::string::npos);
  EXPECT_EQ(html.find("broken<mixer>"), std::string::npos);  // always escaped
  EXPECT_NE(html.find("97.0%"), std::string::npos);
  EXPECT_NE(html.find("addEventListener('click'"), std::string::npos);  // sortable
  // Skipped suites say why.
  EXPECT_NE(html.find("the `lmforge glue` subcommand is not built yet"), std::string::npos);

  // Every plot, each with a legend entry per model and drawn marks.
  for (const char* name : {"loss-quick", "pareto-quick"}) {
    const std::string svg = plot(html, name);
    ASSERT_FALSE(svg.empty()) << name;
    for (const char* model : {"attention", "hyena", "broken&lt;mixer&gt;"})
      EXPECT_NE(svg.find(std::string("class=\"legend-entry\" data-model=\"") + model + "\""), std::string::npos)
          << name << " " << model;
    EXPECT_EQ(count(svg, "class=\"legend-entry\""), 3u) << name;
  }
  EXPECT_EQ(count(plot(html, "loss-quick"), "<path d="), 2u);        // two curves; the failed one has 1 point
  EXPECT_EQ(count(plot(html, "pareto-quick"), "<circle"), 2u);       // two measured models
  EXPECT_NE(plot(html, "pareto-quick").find("class=\"pareto\""), std::string::npos);
  const std::string k = plot(html, "kernels-kernels");
  ASSERT_FALSE(k.empty());
  EXPECT_EQ(count(k, "class=\"legend-entry\""), 4u);  // fp32/bf16 x fwd/fwd+bwd
  EXPECT_EQ(count(k, "<path d="), 4u);
  // Commands and configs of every run.
  EXPECT_EQ(count(html, "<pre class=\"command\">"), 3u);
  EXPECT_EQ(count(html, "<pre class=\"config\">"), 3u);
  EXPECT_NE(html.find("lmforge train -c mqar --set train.lr=100 --out runs/b"), std::string::npos);
}

TEST(BenchReport, CsvHasARowPerRunWithTheError) {
  const std::string csv = report::render_csv(test::canned_results());
  EXPECT_EQ(count(csv, "\n"), 4u);
  EXPECT_EQ(csv.rfind("suite,model,status,quality_metric,quality,", 0), 0u);
  EXPECT_NE(csv.find("quick,attention,ok,accuracy,0.97,"), std::string::npos);
  EXPECT_NE(csv.find("quick,broken<mixer>,failed,accuracy,"), std::string::npos);
  EXPECT_NE(csv.find("\"training diverged at step 12: loss nan, grad norm nan (lower train.lr)\""), std::string::npos);
}

TEST(BenchReport, MarkdownTable) {
  const std::string md = report::render_markdown(test::canned_results());
  EXPECT_NE(md.find("Command: `lmforge bench --suite all --out runs/x`"), std::string::npos);
  EXPECT_NE(md.find("| quick | attention | ok | 97.0% acc | 120k |"), std::string::npos) << md;
  EXPECT_NE(md.find("| quick | hyena | ok | 41.0% acc |"), std::string::npos);
  EXPECT_NE(md.find("| 250/300 | time cap reached |"), std::string::npos) << md;
  EXPECT_NE(md.find("training diverged at step 12"), std::string::npos);
  EXPECT_NE(md.find("Suite glue skipped:"), std::string::npos);
}

TEST(BenchReport, EmptyAndPartialResultsStillRender) {
  nlohmann::json r = {{"title", "x"}, {"status", "interrupted"}, {"runs", nlohmann::json::array()}};
  const std::string html = report::render_html(r);
  EXPECT_NE(html.find("No model runs."), std::string::npos);
  EXPECT_NE(html.find("stopped by the user"), std::string::npos);
  nlohmann::json p = test::canned_results();
  p["runs"][1]["status"] = "pending";
  p["runs"][1].erase("curve");
  p["runs"][1]["metrics"] = {{"planned_steps", 300}};
  const std::string h2 = report::render_html(p);
  EXPECT_EQ(count(plot(h2, "loss-quick"), "class=\"legend-entry\""), 3u);
}

TEST(BenchReport, ShapeSequenceLength) {
  EXPECT_EQ(report::seq_len_of_shape("B4_H768_L4096_gated"), 4096);
  EXPECT_EQ(report::seq_len_of_shape("B4_H768_L4096_Lk100"), 4096);
  EXPECT_EQ(report::seq_len_of_shape("L128"), 128);
  EXPECT_EQ(report::seq_len_of_shape("B4_H768"), 0);
  EXPECT_EQ(report::shape_without_seq_len("B4_H768_L4096_gated"), "B4_H768_gated");
  EXPECT_EQ(report::shape_without_seq_len("B4_H768_L4096"), "B4_H768");
}

TEST(BenchReport, SvgHelpers) {
  std::vector<double> t = report::nice_ticks(0, 1, 5, false);
  ASSERT_GE(t.size(), 3u);
  EXPECT_DOUBLE_EQ(t.front(), 0.0);
  EXPECT_DOUBLE_EQ(t.back(), 1.0);
  t = report::nice_ticks(100, 100000, 6, true);
  EXPECT_EQ(t, (std::vector<double>{100, 1000, 10000, 100000}));
  t = report::nice_ticks(1000, 20000, 6, true);  // narrow log range: 1-2-5 steps
  EXPECT_EQ(t, (std::vector<double>{1000, 2000, 5000, 10000, 20000}));
  // Pareto: (1,1) is dominated by (2,2); (3,1.5) is on the front (fastest).
  std::vector<size_t> f = report::pareto_front({1, 2, 3}, {1, 2, 1.5}, true);
  EXPECT_EQ(f, (std::vector<size_t>{1, 2}));
  f = report::pareto_front({1, 2, 3}, {10, 20, 15}, false);  // lower is better
  EXPECT_EQ(f, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(report::html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(report::short_number(123456), "123k");
}

}  // namespace
}  // namespace lmforge
