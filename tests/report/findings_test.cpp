// report/findings: the report's reading of a suite says what its numbers say: best and worst,
// who reached the bar and who stayed far from it, runs capped by time, failures.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lmforge/report/findings.h"

using nlohmann::json;
using lmforge::report::findings_html;
using lmforge::report::findings_markdown;

namespace {

json run(const std::string& suite, const std::string& name, double q, const char* metric = "accuracy",
         bool higher = true, double steps = 600, double planned = 600) {
  return {{"suite", suite},
          {"name", name},
          {"status", "ok"},
          {"metrics",
           {{"quality", q}, {"quality_metric", metric}, {"higher_is_better", higher}, {"steps", steps},
            {"planned_steps", planned}}}};
}

}  // namespace

TEST(Findings, AccuracySuiteNamesBestWorstAndTheBar) {
  const json suites = json::array({{{"name", "quick"}, {"status", "ran"}, {"lesson", "MQAR tests recall."}, {"bar", 0.9}}});
  json runs = json::array({run("quick", "attention", 0.932), run("quick", "hyena", 0.209),
                           run("quick", "linear_attention", 0.483, "accuracy", true, 400, 600)});
  runs.push_back({{"suite", "quick"}, {"name", "routing"}, {"status", "failed"}, {"error", "boom"}});
  const std::string md = findings_markdown(suites, runs);
  EXPECT_NE(md.find("MQAR tests recall."), std::string::npos) << md;
  EXPECT_NE(md.find("Best: attention (93.2%); worst: hyena (20.9%), 72 points apart."), std::string::npos) << md;
  EXPECT_NE(md.find("1 of 3 reached the bar of 90.0%: attention."), std::string::npos) << md;
  EXPECT_NE(md.find("Far from it (below half): hyena."), std::string::npos) << md;
  EXPECT_NE(md.find("understate them: linear_attention."), std::string::npos) << md;
  EXPECT_NE(md.find("1 run(s) failed"), std::string::npos) << md;
  EXPECT_NE(findings_html(suites, runs).find("<h2>What the results show</h2>"), std::string::npos);
}

TEST(Findings, PerplexityIsLowerIsBetterAndRatiosAreShown) {
  const json suites = json::array({{{"name", "wt"}, {"status", "ran"}}});
  const json runs = json::array({run("wt", "hyena", 1500, "word_ppl", false), run("wt", "attention", 1000, "word_ppl", false)});
  const std::string md = findings_markdown(suites, runs);
  EXPECT_NE(md.find("Best: attention (1000); worst: hyena (1500), 1.50x apart."), std::string::npos) << md;
}

TEST(Findings, SkippedSuitesAreLeftOutAndEmptyOnesSaySo) {
  const json suites = json::array({{{"name", "wt"}, {"status", "skipped"}}, {{"name", "q"}, {"status", "ran"}}});
  const std::string md = findings_markdown(suites, json::array());
  EXPECT_EQ(md.find("### wt"), std::string::npos) << md;
  EXPECT_NE(md.find("No model of this suite finished"), std::string::npos) << md;
  // Markup in names is escaped in the HTML.
  const json s2 = json::array({{{"name", "<b>"}, {"status", "ran"}}});
  EXPECT_NE(findings_html(s2, json::array()).find("&lt;b&gt;"), std::string::npos);
}
