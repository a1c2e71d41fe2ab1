// The report in a real browser: headless Chromium (Debian package `chromium`) loads the report
// of the canned results, and the test checks from the rendered DOM that the table and every plot
// rendered (plots whose marks have a non-empty box, legend entries laid out: the report's own
// inline self-check writes the counts into body[data-render-check]), that the page logged no
// console errors, and takes a screenshot. Skips with a message when Chromium is absent; every
// browser call runs under `timeout` so the test cannot hang.
#include <cstdlib>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "canned_results.h"
#include "lmforge/core/subprocess.h"
#include "lmforge/report/html_report.h"

namespace lmforge {
namespace {

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"})
    if (program_on_path(name)) return name;
  return "";
}

// The flags that work on the project's machines (no sandbox as root, no GPU, no network chatter),
// with a fresh profile.
std::string chromium_command(const std::string& exe, const std::string& profile) {
  return "timeout -k 5 120 " + exe +
         " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
         " --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir=" + profile +
         " --enable-logging=stderr --v=0";
}

TEST(BenchReportChromium, TableAndEveryPlotRender) {
  const std::string exe = find_chromium();
  if (exe.empty()) GTEST_SKIP() << "chromium is not installed (Debian package `chromium`; scripts/setup.sh installs it)";
  test::TempDir tmp("chromium");
  const std::string page = tmp / "report.html";
  test::write_text(page, report::render_html(test::canned_results()));
  const std::string url = "file://" + page;

  // 1. The DOM after load, with the report's render self-check.
  const std::string dom = tmp / "dom.html", err = tmp / "stderr.txt";
  int rc = std::system((chromium_command(exe, tmp / "profile1") + " --virtual-time-budget=3000 --dump-dom " + url +
                        " > " + dom + " 2> " + err).c_str());
  ASSERT_EQ(rc, 0) << "chromium --dump-dom failed (rc " << rc << "):\n" << file_tail(err);
  const std::string d = test::read_text(dom);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(d, m, std::regex("data-render-check=\"([^\"]*)\"")))
      << "no render check in the DOM (script did not run?)\n" << d.substr(0, 2000);
  std::string check = std::regex_replace(m[1].str(), std::regex("&quot;"), "\"");
  const nlohmann::json c = nlohmann::json::parse(check);
  // canned results: loss + quality plots of one suite, and the kernel plot.
  EXPECT_EQ(c["plots"], 3) << check;
  EXPECT_EQ(c["drawn"], 3) << check;
  EXPECT_EQ(c["legend"], 3 + 3 + 4) << check;  // every model in both suite plots, 4 kernel series
  EXPECT_EQ(c["rows"], 3) << check;
  // No console output at all, errors included (with --enable-logging Chromium writes every page
  // console message, uncaught exceptions too, as an "INFO:CONSOLE" line).
  const std::string log = test::read_text(err);
  EXPECT_EQ(log.find(":CONSOLE"), std::string::npos) << log;

  // 2. A screenshot of the page.
  const std::string shot = tmp / "report.png";
  rc = std::system((chromium_command(exe, tmp / "profile2") + " --window-size=1280,2400 --virtual-time-budget=3000 --screenshot=" +
                    shot + " " + url + " > /dev/null 2> " + err).c_str());
  ASSERT_EQ(rc, 0) << "chromium --screenshot failed (rc " << rc << "):\n" << file_tail(err);
  const std::string png = test::read_text(shot);
  ASSERT_GT(png.size(), 20000u) << "screenshot too small to hold the table and plots";
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  if (const char* keep = std::getenv("LMFORGE_KEEP_SCREENSHOT")) test::write_text(keep, png);
}

}  // namespace
}  // namespace lmforge
