// End to end: a tiny model with a fixed seed trains to a loss trajectory kept in a versioned
// file (tests/golden/); stopping and resuming gives the same numbers bit for bit.
// Regenerate the golden file after an intended numerical change with LMFORGE_UPDATE_GOLDEN=1.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/core/signals.h"
#include "lmforge/train/trainer.h"

using namespace lmforge;
using lmforge::test::TempDir;

namespace {

toml::table tiny_config(int64_t steps) {
  toml::table t = load_config("gpt-tiny");
  apply_override(t, "train.steps=" + std::to_string(steps));
  apply_override(t, "train.log_every=1");
  apply_override(t, "run.threads=1");
  return t;
}


}  // namespace

TEST(Golden, TinyModelLossTrajectory) {
  TempDir d("golden");
  TrainOptions o;
  o.run_dir = d / "run";
  o.quiet = true;
  train(tiny_config(20), o);
  std::vector<double> losses = test::train_losses(o.run_dir);
  ASSERT_EQ(losses.size(), 20u);
  const std::string golden = std::string(LMFORGE_TEST_DATA_DIR) + "/gpt_tiny_losses.json";
  if (std::getenv("LMFORGE_UPDATE_GOLDEN")) {
    test::write_text(golden, nlohmann::json(losses).dump(1) + "\n");
    GTEST_SKIP() << "wrote " << golden;
  }
  auto expected = nlohmann::json::parse(test::read_text(golden)).get<std::vector<double>>();
  ASSERT_EQ(expected.size(), losses.size());
  for (size_t i = 0; i < losses.size(); ++i)
    // Same machine kind and same BLAS give identical numbers; the slack only absorbs a different
    // summation order in another BLAS build.
    EXPECT_NEAR(losses[i], expected[i], 1e-4 * std::max(1.0, std::abs(expected[i]))) << "step " << i + 1;
  EXPECT_LT(losses.back(), losses.front()) << "the loss should fall";
}

TEST(Golden, ResumeIsBitExact) {
  TempDir d("resume");
  TrainOptions full;
  full.run_dir = d / "full";
  full.quiet = true;
  train(tiny_config(12), full);

  // The same run stopped after 5 steps (as SIGINT would: save and exit), then resumed.
  TrainOptions part;
  part.run_dir = d / "part";
  part.quiet = true;
  part.stop_after = 5;
  nlohmann::json m = train(tiny_config(12), part);
  EXPECT_FALSE(m["finished"].get<bool>());
  EXPECT_EQ(m["step"].get<int64_t>(), 5);
  TrainOptions again;
  again.run_dir = part.run_dir;
  again.resume = true;
  again.quiet = true;
  train({}, again);
  std::vector<double> a = test::train_losses(full.run_dir), b = test::train_losses(part.run_dir);
  ASSERT_EQ(a.size(), 12u);
  ASSERT_EQ(b.size(), 12u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}
