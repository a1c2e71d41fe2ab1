// AdvGLUE aggregation against the spec's oracle numbers (re-scored from the real dev.json): a dev
// file with the same label counts per task (dev.json itself is not shipped) must give all-0
// predictions sst2 48.65, qqp 29.49, mnli 31.74, qnli 50.00, rte 43.21, overall 40.62; all-1 51.35,
// 49.60, 30.00, 50.00, 56.79, overall 47.55; gold 100.
#include <gtest/gtest.h>

#include "lmforge/eval/advglue.h"
#include "../test_util.h"

using lmforge::eval::score_advglue;

namespace {
// Label counts per task reproducing the real dev.json's class balance (sizes 148, 78, 121, 162, 148, 81).
nlohmann::json synthetic_dev() {
  nlohmann::json dev;
  auto add = [&](const std::string& task, std::vector<int> counts) {
    nlohmann::json list = nlohmann::json::array();
    int idx = 0;
    for (size_t label = 0; label < counts.size(); ++label)
      for (int i = 0; i < counts[label]; ++i) {
        nlohmann::json r = {{"idx", idx++}, {"label", label}};
        if (task == "sst2") r["sentence"] = "s";
        else if (task == "qqp") r["question1"] = "a", r["question2"] = "b";
        else if (task == "qnli") r["question"] = "a", r["sentence"] = "b";
        else if (task == "rte") r["sentence1"] = "a", r["sentence2"] = "b";
        else r["premise"] = "a", r["hypothesis"] = "b";
        list.push_back(r);
      }
    dev[task] = list;
  };
  add("sst2", {72, 76});
  add("qqp", {46, 32});
  add("mnli", {32, 39, 50});
  add("mnli-mm", {60, 45, 57});
  add("qnli", {74, 74});
  add("rte", {35, 46});
  return dev;
}
std::map<std::string, std::vector<int64_t>> constant(const nlohmann::json& dev, int64_t v) {
  std::map<std::string, std::vector<int64_t>> p;
  for (const auto& [k, list] : dev.items()) p[k] = std::vector<int64_t>(list.size(), v);
  return p;
}
}  // namespace

TEST(AdvGlue, OracleAllZeroAllOneGold) {
  nlohmann::json dev = synthetic_dev();
  auto s0 = score_advglue(dev, constant(dev, 0));
  EXPECT_TRUE(s0.complete);
  EXPECT_NEAR(s0.task_score["sst2"], 48.65, 0.005);
  EXPECT_NEAR(s0.task_score["qqp"], 29.49, 0.005);
  EXPECT_NEAR(s0.task_score["mnli"], 31.74, 0.005);
  EXPECT_NEAR(s0.task_score["qnli"], 50.00, 0.005);
  EXPECT_NEAR(s0.task_score["rte"], 43.21, 0.005);
  EXPECT_NEAR(s0.overall, 40.62, 0.005);
  auto s1 = score_advglue(dev, constant(dev, 1));
  EXPECT_NEAR(s1.task_score["sst2"], 51.35, 0.005);
  EXPECT_NEAR(s1.task_score["qqp"], 49.60, 0.005);
  EXPECT_NEAR(s1.task_score["mnli"], 30.00, 0.005);
  EXPECT_NEAR(s1.task_score["qnli"], 50.00, 0.005);
  EXPECT_NEAR(s1.task_score["rte"], 56.79, 0.005);
  EXPECT_NEAR(s1.overall, 47.55, 0.005);
  std::map<std::string, std::vector<int64_t>> gold;
  for (const auto& [k, list] : dev.items())
    for (const auto& r : list) gold[k].push_back(r["label"].get<int64_t>());
  EXPECT_NEAR(score_advglue(dev, gold).overall, 100.0, 1e-9);
}

TEST(AdvGlue, CliScoresPredictionsFileAndRejectsBadInput) {
  lmforge::test::TempDir dir("adv");
  nlohmann::json dev = synthetic_dev();
  lmforge::test::write_text(dir / "dev.json", dev.dump());
  nlohmann::json p(constant(dev, 0));
  lmforge::test::write_text(dir / "pred.json", p.dump());
  auto r = lmforge::test::run_lmforge("advglue --data " + (dir / "dev.json") + " --predictions " + (dir / "pred.json") + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_NEAR(j["advglue_score"].get<double>(), 40.62, 0.005);
  // Wrong length: a clear error, exit 2.
  p["sst2"].erase(0);
  lmforge::test::write_text(dir / "bad.json", p.dump());
  r = lmforge::test::run_lmforge("advglue --data " + (dir / "dev.json") + " --predictions " + (dir / "bad.json"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("147 predictions for 148"), std::string::npos) << r.output;
  // A record without its text field.
  dev["rte"][3].erase("sentence2");
  lmforge::test::write_text(dir / "dev2.json", dev.dump());
  r = lmforge::test::run_lmforge("advglue --data " + (dir / "dev2.json") + " --model rte=" + dir.path());
  EXPECT_EQ(r.code, 2) << r.output;
}
