// A tiny `lmforge train` run leaves a TensorBoard events file beside log.jsonl whose scalars are
// the log's numbers (as float), and an ETA on its log lines; train.tensorboard = false leaves none.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/tensorboard_reader.h"
#include "../test_util.h"

namespace lmforge {
namespace {

using test::run_lmforge;
using test::TempDir;

std::string tiny_run(const std::string& out) {
  return "train -c mqar --set data.mqar.vocab_size=64 --set data.mqar.seq_len=32 --set data.mqar.num_kv_pairs=4 "
         "--set model.d_model=32 --set model.max_seq_len=32 --set train.seq_len=32 --set train.precision=fp32 "
         "--set train.steps=6 --set train.batch_size=4 --set train.warmup_steps=1 --set train.log_every=2 "
         "--set train.eval_every=3 --set train.eval_batches=1 --threads 1 --out " + out;
}

std::vector<nlohmann::json> records(const std::string& run, const std::string& type) {
  std::vector<nlohmann::json> v;
  std::ifstream f(run + "/log.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == type) v.push_back(j);
  }
  return v;
}

TEST(TensorBoardRun, TrainWritesTheLogsScalarsAsEventsAndAnEta) {
  TempDir d("tbrun");
  const std::string run = d / "run";
  const test::CommandResult r = run_lmforge(tiny_run(run));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("step 2/6  loss"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  eta "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step 6/6  loss"), std::string::npos) << r.output;

  const std::vector<std::string> files = test::tb_event_files(run);
  ASSERT_EQ(files.size(), 1u);
  const std::vector<test::TbEvent> ev = test::read_tb_events(test::read_text(files[0]));
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");

  // train/loss is the console's loss: the mean over the steps since the last log line (loss_avg).
  const std::vector<nlohmann::json> train = records(run, "train");
  ASSERT_EQ(train.size(), 3u);  // steps 2, 4, 6
  for (const char* key : {"loss_avg", "lr", "grad_norm", "tokens_per_s", "ms_per_step", "mfu", "eta_s"}) {
    const std::string tag = std::string("train/") + (std::string(key) == "loss_avg" ? "loss" : key);
    const auto sc = test::tb_scalars(ev, tag);
    ASSERT_EQ(sc.size(), train.size()) << tag;
    for (size_t i = 0; i < sc.size(); ++i) {
      EXPECT_EQ(sc[i].first, train[i]["step"].get<int64_t>()) << tag;
      EXPECT_EQ(sc[i].second, static_cast<float>(train[i][key].get<double>())) << tag << " at step " << sc[i].first;
    }
  }
  EXPECT_EQ(train.back()["eta_s"].get<double>() >= 0, true);

  // Every number of every evaluation record, as eval/<key>.
  const std::vector<nlohmann::json> evals = records(run, "eval");
  ASSERT_EQ(evals.size(), 2u);  // steps 3 and 6
  int checked = 0;
  for (const auto& e : evals)
    for (const auto& [k, v] : e.items()) {
      if (!v.is_number() || k == "step") continue;
      const auto sc = test::tb_scalars(ev, "eval/" + k);
      bool found = false;
      for (const auto& [step, value] : sc)
        if (step == e["step"].get<int64_t>()) found = (value == static_cast<float>(v.get<double>()));
      EXPECT_TRUE(found) << "eval/" << k << " at step " << e["step"];
      ++checked;
    }
  EXPECT_GE(checked, 2);
}

TEST(TensorBoardRun, ConfigKeySwitchesItOff) {
  TempDir d("tbrun");
  const std::string run = d / "run";
  const test::CommandResult r = run_lmforge(tiny_run(run) + " -q --set train.tensorboard=false");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(test::tb_event_files(run).empty());
  EXPECT_NE(test::read_text(run + "/config.toml").find("tensorboard = false"), std::string::npos);
  // A typo is refused like any unknown key, with the right one suggested.
  const test::CommandResult bad = run_lmforge(tiny_run(d / "bad") + " -q --set train.tensorbord=false");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("train.tensorboard"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace lmforge
