// train/retention: checkpoint snapshots (train.keep_last) and the best-metric checkpoint
// (train.keep_best), unit by unit and through `lmforge train`.
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/linear.h>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/retention.h"

using namespace lmforge;
using lmforge::test::run_lmforge;
using lmforge::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

ino_t inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

}  // namespace

TEST(Retention, SnapshotsKeepTheNewestNAsHardLinks) {
  TempDir d("retain");
  torch::nn::Linear lin(4, 3);
  toml::table cfg;
  for (int64_t step = 1; step <= 4; ++step) {
    save_checkpoint(d.path(), *lin, nullptr, {{"step", step}}, cfg);
    snapshot_checkpoint(d.path(), step, 2);
    // The newest snapshot shares checkpoint/'s files (no copy) and verifies as a checkpoint.
    const fs::path snap = d / ("checkpoints/step-0000000" + std::to_string(step));
    EXPECT_EQ(inode(snap / "model.safetensors"), inode(d / "checkpoint/model.safetensors"));
    verify_checkpoint(snap.string());
    EXPECT_EQ(load_state(snap.string())["step"], step);
  }
  EXPECT_EQ(names_in(d / "checkpoints"), (std::set<std::string>{"step-00000003", "step-00000004"}));
  // A snapshot outlives the save that replaces checkpoint/: its files are the old inodes.
  EXPECT_EQ(load_state(d / "checkpoints/step-00000003")["step"], 3);
  // A leftover of a crash mid-snapshot goes; keep = 1 removes every snapshot.
  fs::create_directories(d / "checkpoints/step-00000009.tmp-123");
  snapshot_checkpoint(d.path(), 5, 1);
  EXPECT_TRUE(names_in(d / "checkpoints").empty());
}

TEST(Retention, DirectionOfMetrics) {
  for (const char* m : {"valid_loss", "valid_ppl", "valid_word_ppl", "bits_per_byte", "word_error"})
    EXPECT_TRUE(lower_is_better(m)) << m;
  for (const char* m : {"accuracy", "mlm_accuracy", "f1", "mcc", "spearman", "answer_accuracy", "lossless_rate"}) EXPECT_FALSE(lower_is_better(m)) << m;
}

TEST(Retention, BestMetricKeepsOnlyImprovements) {
  BestMetric loss("valid_loss", nullptr);
  EXPECT_TRUE(loss.record().is_null());
  EXPECT_TRUE(loss.update({{"valid_loss", 3.0}}, 10));
  EXPECT_FALSE(loss.update({{"valid_loss", 3.5}}, 20));
  EXPECT_FALSE(loss.update({{"valid_loss", 3.0}}, 30));  // a tie is not an improvement
  EXPECT_TRUE(loss.update({{"valid_loss", 2.5}}, 40));
  EXPECT_EQ(loss.record(), (nlohmann::json{{"metric", "valid_loss"}, {"value", 2.5}, {"step", 40}}));
  BestMetric acc("accuracy", nullptr);
  EXPECT_TRUE(acc.update({{"accuracy", 0.5}}, 1));
  EXPECT_FALSE(acc.update({{"accuracy", 0.4}}, 2));
  EXPECT_TRUE(acc.update({{"accuracy", 0.6}}, 3));
  // Resumed from a saved record: only a better value replaces it; another metric's record is not used.
  BestMetric resumed("valid_loss", loss.record());
  EXPECT_FALSE(resumed.update({{"valid_loss", 2.7}}, 50));
  EXPECT_TRUE(resumed.update({{"valid_loss", 2.4}}, 60));
  BestMetric other("valid_ppl", loss.record());
  EXPECT_TRUE(other.update({{"valid_ppl", 100.0}}, 70));
  // A metric the evaluation does not report names the key and what it does report.
  const std::string msg =
      test::error_of<ConfigError>([&] { BestMetric("valid_acc", nullptr).update({{"valid_loss", 1.0}, {"step", 3}}, 3); });
  EXPECT_NE(msg.find("train.keep_best"), std::string::npos) << msg;
  EXPECT_NE(msg.find("it reports: valid_loss)"), std::string::npos) << msg;
}

TEST(Retention, TrainKeepsSnapshotsAndTheBestCheckpoint) {
  TempDir d("retain");
  const std::string text = "the cat sat on the mat .\na dog sat on a log .\nthe dog and the cat .\n";
  std::string train;
  for (int i = 0; i < 20; ++i) train += text;
  test::write_text(d / "train.txt", train);
  test::write_text(d / "valid.txt", text);
  const std::string base = "train -q -c gpt-tiny --set data.task=lm --set data.train=" + d / "train.txt" +
                           " --set data.valid=" + d / "valid.txt" +
                           " --set data.tokenizer.kind=word --set data.tokenizer.vocab_size=0" +
                           " --set train.seq_len=8 --set data.cache_dir=" + d / "cache" + " --set run.threads=1";
  auto r = run_lmforge(base + " --set train.steps=6 --set train.save_every=1 --set train.eval_every=2" +
                       " --set train.keep_last=3 --set train.keep_best=valid_word_ppl --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(names_in(d / "run/checkpoints"),
            (std::set<std::string>{"step-00000004", "step-00000005", "step-00000006"}));
  const nlohmann::json best = load_state(d / "run/checkpoint-best")["best"];
  ASSERT_TRUE(best.is_object()) << best;
  EXPECT_EQ(best["metric"], "valid_word_ppl");
  // The final checkpoint records the same best; checkpoint-best holds weights but no optimizer.
  EXPECT_EQ(load_state(d / "run/checkpoint")["best"], best);
  EXPECT_FALSE(fs::exists(d / "run/checkpoint-best/optimizer.pt"));
  // Word tokens: one token per word (+ end of line), so the word perplexity is the token one.
  const nlohmann::json ev = load_state(d / "run/checkpoint")["last_eval"];
  EXPECT_NEAR(ev["valid_word_ppl"].get<double>(), ev["valid_ppl"].get<double>(), 1e-9 * ev["valid_ppl"].get<double>());
  // A best checkpoint is a checkpoint: eval-lm takes it.
  r = run_lmforge("eval-lm --threads 1 --json --checkpoint " + d / "run/checkpoint-best" + " --data " + d / "valid.txt");
  EXPECT_EQ(r.code, 0) << r.output;
  // A metric the evaluation does not report fails before any training, naming the key.
  r = run_lmforge(base + " --set train.steps=2 --set train.keep_best=valid_acc --out " + d / "bad");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.keep_best"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("valid_word_ppl"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d / "bad/checkpoint"));
  r = run_lmforge(base + " --set train.steps=2 --set train.keep_last=0 --out " + d / "bad0");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.keep_last"), std::string::npos) << r.output;
}
