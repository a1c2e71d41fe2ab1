// `lmforge bench` end to end on tiny matrices (seconds): the built-in quick suite's plumbing on
// two models for a few steps; a failing model recorded with its error while the suite goes on;
// Ctrl-C leaving a valid partial report; dry runs that plan every registered mixer and skip
// suites whose pieces are missing.
#include <signal.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../core/tensorboard_reader.h"
#include "../test_util.h"
#include "lmforge/nn/components.h"

namespace lmforge {
namespace {

using nlohmann::json;
using test::read_text;
using test::run_lmforge;
using test::TempDir;
using test::write_text;
namespace fs = std::filesystem;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// Tiny MQAR runs: a few steps of a width-32 model on 8 sequences.
const char* kTiny =
    "--set model.d_model=32 --set train.batch_size=8 --set train.log_every=1 --set train.eval_every=0 "
    "--set train.eval_batches=1 --set train.warmup_steps=1";

TEST(BenchCli, QuickSuitePlumbingOnTwoModels) {
  TempDir tmp("bench");
  const std::string out = tmp / "q";
  auto r = run_lmforge("bench --suite quick --models attention,attention-rmsnorm-glu --no-progress --set train.steps=3 " +
                       std::string(kTiny) + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("report: " + fs::absolute(out).string() + "/report.html"), std::string::npos) << r.output;
  const json res = json::parse(read_text(out + "/results.json"));
  EXPECT_EQ(res["status"], "complete");
  ASSERT_EQ(res["runs"].size(), 2u);
  for (const auto& run : res["runs"]) {
    SCOPED_TRACE(run["name"].get<std::string>());
    EXPECT_EQ(run["status"], "ok") << run.dump(2);
    const json& m = run["metrics"];
    EXPECT_EQ(m["steps"], 3);
    EXPECT_EQ(m["quality_metric"], "accuracy");
    EXPECT_GE(m["quality"].get<double>(), 0.0);
    EXPECT_LE(m["quality"].get<double>(), 1.0);
    for (const char* k : {"parameters", "train_flops_per_token", "train_tokens_per_s", "infer_tokens_per_s", "peak_rss_mb"})
      EXPECT_GT(m.value(k, 0.0), 0.0) << k;
    EXPECT_EQ(run["curve"]["step"].size(), 3u);
    EXPECT_NE(run["config"].get<std::string>().find("d_model = 32"), std::string::npos);
    EXPECT_NE(run["command"].get<std::string>().find("lmforge train -c mqar"), std::string::npos);
    EXPECT_TRUE(fs::exists(run["run_dir"].get<std::string>() + "/log.jsonl"));
    // The child training run writes TensorBoard events beside its log.jsonl.
    const auto tb = lmforge::test::tb_event_files(run["run_dir"].get<std::string>());
    ASSERT_EQ(tb.size(), 1u);
    EXPECT_EQ(lmforge::test::tb_scalars(lmforge::test::read_tb_events(read_text(tb[0])), "train/loss").size(),
              run["curve"]["step"].size());
  }
  EXPECT_EQ(res["runs"][1]["metrics"]["parameters"] != res["runs"][0]["metrics"]["parameters"], true);  // GLU differs
  const std::string html = read_text(out + "/report.html");
  EXPECT_NE(html.find("data-plot=\"loss-quick\""), std::string::npos);
  EXPECT_NE(html.find("data-plot=\"pareto-quick\""), std::string::npos);
  EXPECT_EQ(count(html, "class=\"legend-entry\" data-model=\"attention-rmsnorm-glu\""), 2u);
  EXPECT_EQ(count(read_text(out + "/results.csv"), "\n"), 3u);
  // A second bench into the same folder is refused (never overwrite results).
  auto again = run_lmforge("bench --suite quick --models attention --dry-run --out " + out);
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find("already holds a benchmark"), std::string::npos);
}

TEST(BenchCli, FailedRunIsRecordedAndTheSuiteGoesOn) {
  TempDir tmp("bench");
  write_text(tmp / "s.toml", R"(
description = "two failures and a good one"
[budget]
steps = 2
[defaults]
configs = ["mqar"]
set = ["model.d_model=32", "train.batch_size=4", "train.log_every=1", "train.eval_every=0", "train.eval_batches=1"]
[[models]]
name = "bad-runtime"
set = ["data.mqar.seq_len=32"]   # refused when the task is built, inside the child
[[models]]
name = "bad-config"
set = ["model.block.mixer=\"no-such-mixer\""]   # refused while planning
[[models]]
name = "good"
[eval]
infer_seconds = 0.05
)");
  auto r = run_lmforge("bench --suite " + tmp / "s.toml" + " --no-progress --out " + tmp / "o");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 ok, 2 failed"), std::string::npos) << r.output;
  const json res = json::parse(read_text(tmp / "o/results.json"));
  ASSERT_EQ(res["runs"].size(), 3u);
  EXPECT_EQ(res["runs"][0]["status"], "failed");
  EXPECT_NE(res["runs"][0]["error"].get<std::string>().find("must equal train.seq_len"), std::string::npos)
      << res["runs"][0].dump(2);
  EXPECT_EQ(res["runs"][1]["status"], "failed");
  EXPECT_NE(res["runs"][1]["error"].get<std::string>().find("unknown mixer 'no-such-mixer'"), std::string::npos)
      << res["runs"][1]["error"];
  EXPECT_EQ(res["runs"][2]["status"], "ok");
  const std::string html = read_text(tmp / "o/report.html");
  EXPECT_EQ(count(html, "<tr class=\"status-failed\""), 2u);
  EXPECT_NE(html.find("must equal train.seq_len"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"legend-entry\""), 6u);  // 3 models x (loss + quality)
}

TEST(BenchCli, InterruptLeavesAValidPartialReport) {
  TempDir tmp("bench");
  write_text(tmp / "s.toml", R"(
description = "long runs, interrupted"
[budget]
steps = 100000
max_minutes = 2
[defaults]
configs = ["mqar"]
set = ["model.d_model=32", "train.batch_size=4", "train.log_every=1", "train.eval_every=0", "train.eval_batches=1"]
[[models]]
name = "first"
[[models]]
name = "second"
)");
  const std::string out = tmp / "o";
  // Start the suite, wait for the first model's first logged step, then Ctrl-C (SIGINT).
  const std::string script = std::string(LMFORGE_BINARY) + " bench --no-progress --suite " + tmp / "s.toml" + " --out " +
                             out + " > " + tmp / "log.txt" + " 2>&1 & p=$!; for i in $(seq 600); do [ -s " + out +
                             "/runs/s/first/log.jsonl ] && break; sleep 0.1; done; kill -INT $p; wait $p; echo rc=$?";
  auto r = test::CommandResult{};
  {
    FILE* p = ::popen(("sh -c '" + script + "'").c_str(), "r");
    ASSERT_TRUE(p);
    char buf[256];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
    ::pclose(p);
  }
  EXPECT_NE(r.output.find("rc=130"), std::string::npos) << r.output << read_text(tmp / "log.txt");
  const json res = json::parse(read_text(out + "/results.json"));
  EXPECT_EQ(res["status"], "interrupted");
  ASSERT_EQ(res["runs"].size(), 2u);
  EXPECT_EQ(res["runs"][0]["status"], "interrupted") << res["runs"][0].dump(2);
  EXPECT_GE(res["runs"][0]["curve"]["step"].size(), 1u);
  EXPECT_EQ(res["runs"][1]["status"], "not run");
  const std::string html = read_text(out + "/report.html");
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("stopped by the user"), std::string::npos);
  EXPECT_NE(read_text(tmp / "log.txt").find("report: "), std::string::npos);
}

// The kernels part with its PyTorch peers on one small perf shape: with Debian's python3 + torch
// (and PyTorch 2.x where the peers environment has it) every peer's timings are kept per case and
// the faster one's are merged with the ratios; with the peer script missing the reference timings
// stay and the report says why.
TEST(BenchCli, KernelsAgainstPyTorchPeers) {
  TempDir tmp("bench");
  write_text(tmp / "k.toml", R"(
description = "one monarch shape"
[kernels]
enabled = true
args = ["--op", "monarch", "--shape", "B4096_d1024_nb4", "--seconds", "0.01", "--threads", "1", "--no-ref"]
peers = true
peer_seconds = 0.01
)");
  const bool have_torch = std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") == 0;
  auto r = run_lmforge("bench --no-progress --suite " + tmp / "k.toml" + " --out " + tmp / "o");
  ASSERT_EQ(r.code, 0) << r.output;
  json res = json::parse(read_text(tmp / "o/results.json"));
  ASSERT_EQ(res["kernels"].size(), 1u);
  const json& k = res["kernels"][0];
  ASSERT_EQ(k["results"].size(), 2u) << k.dump(2);  // fp32 and bf16
  if (have_torch) {
    for (const auto& x : k["results"]) {
      // "torch VERSION: form" of the faster peer; every peer listed.
      EXPECT_NE(x["peer"].get<std::string>().find(": two-bmm Monarch (fly)"), std::string::npos) << x.dump(2);
      ASSERT_GE(x["peers"].size(), 1u) << x.dump(2);
      double fastest = 1e300;
      for (const auto& p : x["peers"]) {
        EXPECT_EQ(p["torch"].get<std::string>().rfind("torch ", 0), 0u) << p.dump();
        fastest = std::min(fastest, p["ms_fb"].get<double>());
      }
      EXPECT_DOUBLE_EQ(x["peer_ms_fb"].get<double>(), fastest) << "the faster peer decides";
      EXPECT_GT(x["speedup_peer"].get<double>(), 0) << x.dump(2);
      EXPECT_GT(x["speedup_peer_fb"].get<double>(), 0) << x.dump(2);
    }
    EXPECT_NE(read_text(tmp / "o/results.md").find("| monarch | B4096_d1024_nb4 |"), std::string::npos);
    EXPECT_NE(read_text(tmp / "o/report.html").find("two-bmm Monarch (fly)"), std::string::npos);
  } else {
    EXPECT_FALSE(k.value("peer_error", "").empty()) << k.dump(2);
  }
  // No peer script: the timings against the reference stay, the reason is recorded.
  ::setenv("LMFORGE_PEERS_DIR", (tmp / "nowhere").c_str(), 1);
  r = run_lmforge("bench --no-progress --suite " + tmp / "k.toml" + " --out " + tmp / "o3");
  ::unsetenv("LMFORGE_PEERS_DIR");
  ASSERT_EQ(r.code, 0) << r.output;
  res = json::parse(read_text(tmp / "o3/results.json"));
  EXPECT_EQ(res["kernels"][0]["status"], "ok");
  EXPECT_NE(res["kernels"][0].value("peer_error", "").find("not found"), std::string::npos) << res["kernels"][0].dump(2);
  EXPECT_TRUE(res["kernels"][0]["results"][0].contains("ms_fb"));
}

TEST(BenchCli, DryRunPlansEveryMixerAndSkipsMissingPieces) {
  TempDir tmp("bench");
  write_text(tmp / "needs.toml", R"(
description = "needs data that is not there"
[requires]
data = ["no/such/file.tokens"]
subcommands = ["no-such-subcommand"]
[defaults]
configs = ["mqar"]
[[models]]
name = "m"
)");
  write_text(tmp / "both.toml", "description = \"both\"\ninclude = [\"quick\", \"" + tmp / "needs.toml" + "\", \"glue\"]\n");
  // An empty --data folder: the glue suite's data is missing whether or not ../shared/data exists.
  fs::create_directories(tmp / "nodata");
  auto r = run_lmforge("bench --dry-run --no-progress --suite " + tmp / "both.toml" + " --data " + tmp / "nodata" + " --out " + tmp / "o");
  ASSERT_EQ(r.code, 0) << r.output;
  const json res = json::parse(read_text(tmp / "o/results.json"));
  EXPECT_EQ(res["status"], "planned");
  std::vector<std::string> names;
  for (const auto& run : res["runs"]) {
    EXPECT_EQ(run["suite"], "quick");
    EXPECT_EQ(run["status"], "pending");
    names.push_back(run["name"]);
  }
  for (const auto& mixer : MixerRegistry::names())
    EXPECT_NE(std::find(names.begin(), names.end(), mixer), names.end()) << mixer;
  ASSERT_EQ(res["suites"].size(), 3u);
  EXPECT_EQ(res["suites"][1]["status"], "skipped");
  EXPECT_NE(res["suites"][1]["reason"].get<std::string>().find("no/such/file.tokens"), std::string::npos);
  EXPECT_NE(res["suites"][1]["reason"].get<std::string>().find("no-such-subcommand"), std::string::npos);
  EXPECT_EQ(res["suites"][2]["status"], "skipped");
  EXPECT_NE(r.output.find("suite glue skipped"), std::string::npos) << r.output;
  // --list names every built-in suite.
  auto l = run_lmforge("bench --list");
  EXPECT_EQ(l.code, 0);
  for (const char* s : {"quick:", "wikitext:", "glue:", "kernels:", "all:"}) EXPECT_NE(l.output.find(s), std::string::npos);
  // A suite that does not exist.
  auto bad = run_lmforge("bench --suite nosuch --out " + tmp / "x");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("no such file and no such built-in suite"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace lmforge
