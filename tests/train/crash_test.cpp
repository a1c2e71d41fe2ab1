// Crash safety of the real binary: `lmforge train` saving a checkpoint after every step is
// SIGKILLed at random moments, round after round (each round resumes the last); after every kill
// the checkpoint on disk must be complete (its manifest verifies) and be the last one fully written
// (never older than the last save the process reported, never more than one save newer), and the
// run finally finishes with the same loss and the same weights, bit for bit, as a run never killed.
// Damaged checkpoint files make `train --resume` fail with a message naming the file.
//
// LMFORGE_CRASH_ROUNDS and LMFORGE_CRASH_SEED change the number of kills (default 20) and the seed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/train/checkpoint.h"

extern char** environ;

using namespace lmforge;
using lmforge::test::TempDir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSteps = 50;

// A tiny MQAR model (no data files needed) that checkpoints after every step (save_every 1).
// The uninterrupted reference saves only at the end (0): saving touches no numbers, and the
// ~100 ms an fsync'ed save costs here would double the test's time.
std::vector<std::string> train_args(const std::string& out, int save_every = 1, int steps = kSteps) {
  return {"train", "-c", "mqar", "--out", out,
          "--set", "train.steps=" + std::to_string(steps), "--set", "train.save_every=" + std::to_string(save_every),
          "--set", "train.log_every=1", "--set", "train.eval_every=0", "--set", "train.eval_batches=1",
          "--set", "train.batch_size=8", "--set", "train.warmup_steps=5", "--set", "train.precision=fp32",
          "--set", "model.d_model=32", "--set", "run.threads=1"};
}

std::string shell_join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + ("'" + a + "'");
  return s;
}

// Starts `lmforge ARGS` with stdout and stderr going to out_file; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& out_file) {
  // Everything the child needs is prepared before fork: after fork only exec-safe calls.
  std::vector<std::string> argv_s = {LMFORGE_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = {"OMP_NUM_THREADS=1"};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env_s.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
  return pid;
}

// The highest N of the "saved checkpoint at step N" lines in a round's output, or -1.
int64_t last_reported_save(const std::string& output) {
  int64_t best = -1;
  const std::string key = "saved checkpoint at step ";
  for (size_t p = output.find(key); p != std::string::npos; p = output.find(key, p + 1))
    best = std::max<int64_t>(best, std::atoll(output.c_str() + p + key.size()));
  return best;
}

// The loss of the last "train" record for `step` in a run's log.jsonl. A killed process may have
// logged a step and died before saving it: the resumed run logs that step again, the later record wins.
double logged_loss(const std::string& run_dir, int64_t step) {
  std::istringstream in(read_file(run_dir + "/log.jsonl"));
  std::string line;
  double loss = std::nan("");
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut by the kill
    if (j.value("type", "") == "train" && j.value("step", -1) == step) loss = j["loss"].get<double>();
  }
  return loss;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool has_entry_starting(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

TEST(Crash, KilledWhileCheckpointingAlwaysResumesFromTheLastCompleteCheckpoint) {
  const int rounds = env_int("LMFORGE_CRASH_ROUNDS", 20);
  const unsigned seed = static_cast<unsigned>(env_int("LMFORGE_CRASH_SEED", 20261204));
  std::mt19937 rng(seed);
  TempDir d("crash");
  const std::string run = d / "run";
  const auto t_start = Clock::now();

  int64_t confirmed = 0;  // the newest step known to be saved completely
  bool have_checkpoint = false;
  int mid_save = 0, between_renames = 0, before_first = 0, exited = 0, kills = 0;
  for (int r = 0; r < rounds; ++r) {
    if (!have_checkpoint) fs::remove_all(run);  // killed before its first save: start again
    const std::vector<std::string> args = have_checkpoint ? std::vector<std::string>{"train", "--resume", run}
                                                          : train_args(run);
    const std::string out_file = d / ("round-" + std::to_string(r) + ".log");
    const pid_t pid = spawn(args, out_file);
    ASSERT_GT(pid, 0) << "cannot start " << LMFORGE_BINARY;

    // One kill in 8 lands at a random moment of the start (loading, resuming, before any save of
    // this round); the others a random 0-60 ms after this round's first save, which with a save
    // after every step is mostly inside a save.
    const bool early = rng() % 8 == 0;
    const int delay_ms = early ? static_cast<int>(rng() % 600) : static_cast<int>(rng() % 61);
    if (!early) {
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (Clock::now() < deadline && last_reported_save(read_file(out_file)) < 0 &&
             ::waitpid(pid, nullptr, WNOHANG) == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    ++kills;
    int status = 0;
    ::waitpid(pid, &status, 0);
    const std::string output = read_file(out_file);
    if (WIFEXITED(status)) {  // it finished (or failed) before the kill
      ++exited;
      --kills;
      ASSERT_EQ(WEXITSTATUS(status), 0) << "round " << r << ": " << output;
    }
    ASSERT_EQ(output.find("error"), std::string::npos) << "round " << r << ": " << output;

    // What the kill left.
    if (has_entry_starting(run, "checkpoint.tmp-")) ++mid_save;
    if (fs::exists(run + "/checkpoint.old") && !fs::exists(run + "/checkpoint")) ++between_renames;
    const int64_t reported = last_reported_save(output);
    std::string ckpt;
    try {
      ckpt = checkpoint_dir(run);
    } catch (const InputError& e) {
      // No checkpoint at all: only possible before the first save ever completed.
      ASSERT_FALSE(have_checkpoint) << "round " << r << ": a complete checkpoint disappeared: " << e.what();
      ASSERT_LT(reported, 0) << "round " << r << ": reported a save that is not on disk";
      ++before_first;
      if (r == 0 || before_first == 1) {
        // And `train --resume` says so plainly.
        test::CommandResult res = test::run_lmforge("train --resume '" + run + "'");
        EXPECT_EQ(res.code, 2) << res.output;
        EXPECT_NE(res.output.find("lmforge: error: checkpoint '" + run + "'"), std::string::npos) << res.output;
      }
      continue;
    }
    nlohmann::json manifest;
    ASSERT_NO_THROW(manifest = verify_checkpoint(ckpt)) << "round " << r << ": torn checkpoint in " << ckpt;
    const int64_t step = load_state(ckpt)["step"].get<int64_t>();
    const int64_t known = std::max(confirmed, reported);
    ASSERT_GE(step, known) << "round " << r << ": the checkpoint went back (last reported save " << reported
                           << ", earlier rounds " << confirmed << ")";
    ASSERT_LE(step, known + 1) << "round " << r << ": more than one save past the last reported one";
    confirmed = step;
    have_checkpoint = true;
    if (step >= kSteps) break;  // finished early: nothing left to kill
  }
  const double kill_seconds = std::chrono::duration<double>(Clock::now() - t_start).count();

  // Finish the run, and run the same training once without interruption.
  test::CommandResult fin = test::run_lmforge("train --resume '" + run + "'");
  ASSERT_EQ(fin.code, 0) << fin.output;
  test::CommandResult ref = test::run_lmforge(shell_join(train_args(d / "ref", 0)));
  ASSERT_EQ(ref.code, 0) << ref.output;
  const double a = logged_loss(run, kSteps), b = logged_loss(d / "ref", kSteps);
  EXPECT_EQ(a, b) << "final loss after " << kills << " kills vs uninterrupted";
  const nlohmann::json ma = verify_checkpoint(run + "/checkpoint"), mb = verify_checkpoint(d / "ref/checkpoint");
  EXPECT_EQ(ma["files"]["model.safetensors"], mb["files"]["model.safetensors"]) << "final weights differ";
  EXPECT_EQ(load_state(run + "/checkpoint")["step"], kSteps);

  const double total_seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  std::cout << "[crash] seed " << seed << ": " << kills << " kills in " << kill_seconds << " s (" << mid_save
            << " left a half-written checkpoint.tmp, " << between_renames << " landed between the renames, "
            << before_first << " before the first save, " << exited << " ran to the end); resumed at step "
            << confirmed << ", final loss " << a << " (uninterrupted " << b << "); " << total_seconds << " s in all\n";
}

TEST(Crash, KilledAtEachPointOfTheSaveProtocol) {
  // The same kills, placed deterministically (LMFORGE_TEST_KILL_AT, train/checkpoint.cpp) at each
  // point of the third save, and what each must leave (docs/ARCHITECTURE.md, Crash safety).
  struct Case {
    const char* point;
    const char* resumes_from;  // folder checkpoint_dir() must pick
    int64_t step;              // its step
  };
  const Case cases[] = {{"start", "checkpoint", 2},           {"before-manifest", "checkpoint", 2},
                        {"after-manifest", "checkpoint", 2},  {"between-renames", "checkpoint.old", 2},
                        {"after-renames", "checkpoint", 3}};
  constexpr int kShort = 5;
  TempDir d("crashpt");
  test::CommandResult ref = test::run_lmforge(shell_join(train_args(d / "ref", 0, kShort)));
  ASSERT_EQ(ref.code, 0) << ref.output;
  const nlohmann::json want = verify_checkpoint(d / "ref/checkpoint")["files"]["model.safetensors"];
  for (const Case& c : cases) {
    const std::string run = d / c.point;
    ::setenv("LMFORGE_TEST_KILL_AT", (std::string(c.point) + ":3").c_str(), 1);
    test::CommandResult r = test::run_lmforge(shell_join(train_args(run, 1, kShort)));
    ::unsetenv("LMFORGE_TEST_KILL_AT");
    // The shell popen runs reports a SIGKILLed child as 128 + 9.
    ASSERT_TRUE(r.code == 128 + SIGKILL || r.code == -1) << c.point << ": not killed: " << r.output;
    const std::string ckpt = checkpoint_dir(run);
    EXPECT_EQ(fs::path(ckpt).filename(), c.resumes_from) << c.point;
    ASSERT_NO_THROW(verify_checkpoint(ckpt)) << c.point;
    EXPECT_EQ(load_state(ckpt)["step"], c.step) << c.point;
    test::CommandResult fin = test::run_lmforge("train --resume '" + run + "'");
    ASSERT_EQ(fin.code, 0) << c.point << ": " << fin.output;
    EXPECT_EQ(verify_checkpoint(run + "/checkpoint")["files"]["model.safetensors"], want) << c.point << ": final weights differ";
    EXPECT_FALSE(fs::exists(run + "/checkpoint.old")) << c.point;
    EXPECT_FALSE(has_entry_starting(run, "checkpoint.tmp-")) << c.point;
  }
}

TEST(Crash, DamagedCheckpointFileStopsResumeNamingIt) {
  TempDir d("crashbad");
  test::CommandResult r = test::run_lmforge(shell_join(train_args(d / "src", 1, 3)) + " --stop-after 2");
  ASSERT_EQ(r.code, 0) << r.output;
  std::mt19937 rng(99);
  for (const char* f : {"model.safetensors", "optimizer.pt", "state.json"}) {
    const std::string run = d / (std::string("bad-") + f);
    fs::copy(d / "src", run, fs::copy_options::recursive);
    const std::string path = run + "/checkpoint/" + f;
    // 20 KB of random bytes into the file (past its end for the small state.json).
    std::string bytes = read_file(path);
    const size_t at = bytes.size() / 4;
    if (bytes.size() < at + 20480) bytes.resize(at + 20480);
    for (size_t i = 0; i < 20480; ++i) bytes[at + i] = static_cast<char>(rng());
    test::write_text(path, bytes);
    test::CommandResult res = test::run_lmforge("train --resume '" + run + "'");
    EXPECT_EQ(res.code, 2) << f << ": " << res.output;
    EXPECT_NE(res.output.find("checkpoint file '" + path + "' is corrupt"), std::string::npos) << res.output;
    EXPECT_EQ(res.output.find("saved checkpoint"), std::string::npos) << "trained on: " << res.output;
  }
}
