// Data parallelism on c10d over loopback (train/dist_c10d.h, train/launch.h).
//
// The oracle: N ranks splitting a global batch take the same steps as one process with the whole
// batch. In fp32 they differ only by summation order (per-rank means averaged vs one mean): after
// 5 AdamW steps (lr 3e-3) the weights agree within kWeightTol = 2e-5 (measured: max |diff| 2.0e-6;
// 1.5e-6 with gradient accumulation and 14 buckets; see docs/BENCHMARKS.md "Data parallel"). The failure tests bound every command with `timeout`, so
// a hang fails the test instead of blocking CI; they never assert timings.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>

#include "../core/tensorboard_reader.h"
#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/train/dist_c10d.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/task.h"

using namespace lmforge;
using lmforge::test::TempDir;

namespace {

constexpr double kWeightTol = 2e-5;  // max |w_2ranks - w_1process| after 5 fp32 AdamW steps

// A tiny MQAR model in fp32: a few seconds for a handful of steps, no data files.
std::string tiny_args(int64_t steps, int64_t batch) {
  return "-c mqar --set data.mqar.vocab_size=64 --set data.mqar.seq_len=32 --set data.mqar.num_kv_pairs=4 "
         "--set model.d_model=32 --set model.max_seq_len=32 --set train.seq_len=32 --set train.precision=fp32 "
         "--set train.steps=" +
         std::to_string(steps) + " --set train.batch_size=" + std::to_string(batch) +
         " --set train.warmup_steps=1 --set train.lr=3e-3 --set train.weight_decay=0.1 --set train.log_every=1 "
         "--set train.eval_every=0 --set train.eval_batches=1 --set train.ddp_timeout_s=30 --threads 1 -q";
}

// Runs a shell command line (bounded by `timeout`), capturing stdout and stderr.
test::CommandResult sh(const std::string& cmd) { return test::run_command("timeout -k 5 120 sh -c '" + cmd + "'"); }

std::string bin() { return LMFORGE_BINARY; }

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::map<std::string, at::Tensor> weights(const std::string& run_dir) {
  const std::string path = run_dir + "/checkpoint/model.safetensors";
  if (!std::filesystem::exists(path)) return {};
  return lmforge::read_safetensors(path);
}

// Largest |a - b| over all tensors; +inf when the names or shapes differ.
double max_weight_diff(const std::string& a, const std::string& b) {
  auto wa = weights(a), wb = weights(b);
  if (wa.empty() || wa.size() != wb.size()) return INFINITY;
  double m = 0;
  for (const auto& [k, t] : wa) {
    auto it = wb.find(k);
    if (it == wb.end() || !t.sizes().equals(it->second.sizes())) return INFINITY;
    m = std::max(m, (t.to(at::kDouble) - it->second.to(at::kDouble)).abs().max().item<double>());
  }
  return m;
}


}  // namespace

// 2 ranks x batch b == 1 process x batch 2b (the same config: train.batch_size is global), and a
// run stopped after 3 steps on 2 ranks continues on 1 rank to the same weights.
TEST(Ddp, TwoRanksMatchOneProcessAndResumeOnOne) {
  TempDir d("ddp");
  const std::string args = tiny_args(5, 8);
  auto one = test::run_lmforge("train " + args + " --out " + d / "one");
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = test::run_lmforge("train " + args + " --nproc 2 --out " + d / "two");
  ASSERT_EQ(two.code, 0) << two.output;

  const double diff = max_weight_diff(d / "one", d / "two");
  EXPECT_LE(diff, kWeightTol) << "2 ranks drifted from 1 process";
  // Rank 0 alone logs: 5 train records, not 10, and with the mean loss over ranks.
  const auto l1 = test::train_losses(d / "one"), l2 = test::train_losses(d / "two");
  ASSERT_EQ(l1.size(), 5u);
  ASSERT_EQ(l2.size(), 5u);
  for (size_t i = 0; i < l1.size(); ++i) EXPECT_NEAR(l1[i], l2[i], 1e-5) << "step " << i + 1;
  // The log record carries the all-reduce volume.
  std::ifstream f(d / "two" + "/log.jsonl");
  std::string line;
  std::getline(f, line);
  auto rec = nlohmann::json::parse(line);
  EXPECT_GT(rec.value("ddp_bytes_per_step", 0), 0) << line;
  EXPECT_EQ(rec.value("ddp_world", 0), 2) << line;
  // Rank 0 alone writes TensorBoard events too: one file, a loss per step.
  const auto tb = test::tb_event_files(d / "two");
  ASSERT_EQ(tb.size(), 1u);
  EXPECT_EQ(test::tb_scalars(test::read_tb_events(test::read_text(tb[0])), "train/loss").size(), 5u);

  // 3 steps on 2 ranks, then the last 2 on 1 rank == 5 steps on 1 rank.
  auto part = test::run_lmforge("train " + args + " --nproc 2 --stop-after 3 --out " + d / "resumed");
  ASSERT_EQ(part.code, 0) << part.output;
  auto rest = test::run_lmforge("train --resume " + d / "resumed" + " --threads 1 -q");
  ASSERT_EQ(rest.code, 0) << rest.output;
  EXPECT_LE(max_weight_diff(d / "one", d / "resumed"), kWeightTol) << "resuming on another world size drifted";
  // The resumed run adds a second events file that goes on from the checkpoint's step.
  const auto parts = test::tb_event_files(d / "resumed");
  ASSERT_EQ(parts.size(), 2u);
  std::vector<int64_t> steps;
  for (const auto& f : parts)
    for (const auto& [step, v] : test::tb_scalars(test::read_tb_events(test::read_text(f)), "train/loss")) steps.push_back(step);
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

// The same with gradient accumulation (only the last micro-batch all-reduces) and small buckets
// (several launched from the hooks during backward).
TEST(Ddp, GradAccumAndSmallBucketsMatchOneProcess) {
  TempDir d("ddp-acc");
  const std::string args = tiny_args(4, 4) + " --set train.grad_accum=2 --set train.ddp_bucket_mb=0.01";
  auto one = test::run_lmforge("train " + args + " --out " + d / "one");
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = test::run_lmforge("train " + args + " --nproc 2 --out " + d / "two");
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_LE(max_weight_diff(d / "one", d / "two"), kWeightTol);
  std::ifstream f(d / "two" + "/log.jsonl");
  std::string line;
  std::getline(f, line);
  auto rec = nlohmann::json::parse(line);
  EXPECT_GT(rec.value("ddp_buckets", 0), 1) << line;
}

// Masked LM: ranks score different numbers of tokens (random masks), so each divides its loss sum
// by the micro-batch's global count (train/step.cpp): still one process's step.
TEST(Ddp, MlmTwoRanksMatchOneProcess) {
  TempDir d("ddp-mlm");
  std::string text;
  for (int i = 0; i < 300; ++i)
    text += "a quick brown fox " + std::to_string(i % 53) + " jumps over " + std::to_string(i % 7) + " lazy dogs\n";
  test::write_text(d / "train.txt", text);
  const std::string args = tiny_args(5, 8) + " --set data.task='\"mlm\"' --set model.kind='\"encoder\"' " +
                           "--set data.tokenizer.kind='\"byte\"' --set data.train='\"" + d / "train.txt" + "\"' " +
                           "--set data.cache_dir='\"" + d / "cache" + "\"'";
  auto one = test::run_lmforge("train " + args + " --out " + d / "one");
  ASSERT_EQ(one.code, 0) << one.output;
  auto two = test::run_lmforge("train " + args + " --nproc 2 --out " + d / "two");
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_LE(max_weight_diff(d / "one", d / "two"), kWeightTol);
  const auto l1 = test::train_losses(d / "one"), l2 = test::train_losses(d / "two");
  ASSERT_EQ(l1.size(), l2.size());
  for (size_t i = 0; i < l1.size(); ++i) EXPECT_NEAR(l1[i], l2[i], 1e-5) << "step " << i + 1;
}

// The time clock on 2 ranks: each rank has its own clock, and they read rank 0's, so all take the
// same lr and end after the same step: a rank that ended alone would leave the other waiting in a
// collective until ddp_timeout_s, and the launch would fail. The run is finished at the floor lr.
TEST(Ddp, TimeClockRanksEndTogetherAtTheFinalLr) {
  TempDir d("ddp-clock");
  const std::string args = tiny_args(1000000, 8) + " --set train.schedule_clock=time --set train.max_minutes=0.05";
  auto two = test::run_lmforge("train " + args + " --nproc 2 --out " + d / "two");
  ASSERT_EQ(two.code, 0) << two.output;
  auto m = nlohmann::json::parse(test::read_text(d / "two/metrics.json"));
  EXPECT_TRUE(m["finished"].get<bool>()) << m.dump();
  EXPECT_EQ(m["schedule_clock"], "time");
  std::ifstream f(d / "two" + "/log.jsonl");
  nlohmann::json last;
  for (std::string line; std::getline(f, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") last = j;
  }
  ASSERT_FALSE(last.is_null());
  EXPECT_EQ(last["step"].get<int64_t>(), m["step"].get<int64_t>());
  EXPECT_NEAR(last["lr"].get<double>(), 3e-4, 1e-15) << last.dump();  // train.lr 3e-3 x min_lr_ratio 0.1
  EXPECT_EQ(last["progress"].get<double>(), 1.0);
}

// The launcher: a rank killed at step 2 -> the command exits non-zero naming it, never hangs.
TEST(Ddp, KilledRankStopsTheLaunch) {
  TempDir d("ddp-kill");
  auto r = sh("LMFORGE_DDP_TEST_KILL=1:2 " + bin() + " train " + tiny_args(50, 4) + " --nproc 2 --out " + d / "run");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.code, 124) << "timed out (hung): " << r.output;
  EXPECT_NE(r.output.find("rank 1 of 2 was killed by signal 9"), std::string::npos) << r.output;
}

// torchrun-style ranks without the launcher: the survivor's collective fails, and it names the
// dead rank (through the heartbeats in the store), for a dead worker and for a dead rank 0.
TEST(Ddp, SurvivorNamesTheDeadRank) {
  for (int victim : {1, 0}) {
    TempDir d("ddp-dead");
    const int survivor = 1 - victim;
    const std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) + " WORLD_SIZE=2 ";
    const std::string train = bin() + " train " + tiny_args(50, 4) + " --out " + d / "run";
    auto r = sh(env + "RANK=" + std::to_string(victim) + " LMFORGE_DDP_TEST_KILL=" + std::to_string(victim) +
                ":2 " + train + " >/dev/null 2>&1 & " + env + "RANK=" + std::to_string(survivor) + " " + train +
                "; code=$?; wait; exit $code");
    EXPECT_EQ(r.code, 2) << "victim " << victim << ": " << r.output;
    EXPECT_NE(r.output.find("rank " + std::to_string(victim) + " is gone"), std::string::npos)
        << "victim " << victim << ": " << r.output;
  }
}

TEST(Ddp, BadLaunchesAreClearErrors) {
  TempDir d("ddp-bad");
  const std::string train = bin() + " train " + tiny_args(2, 4) + " --out " + d / "run";
  auto r = sh(train + " --nproc 0");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--nproc 0"), std::string::npos) << r.output;

  r = sh(bin() + " train " + tiny_args(2, 6) + " --nproc 4 --out " + d / "run");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.batch_size"), std::string::npos) << r.output;

  r = sh("unset MASTER_ADDR; RANK=0 WORLD_SIZE=2 " + train);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("MASTER_ADDR is not"), std::string::npos) << r.output;

  r = sh("RANK=3 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 " + train);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("RANK=3"), std::string::npos) << r.output;

  r = sh("RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 " + train + " --nproc 3");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("conflicts with WORLD_SIZE=2"), std::string::npos) << r.output;

  // Rank 1 alone: rank 0's store never answers -> a clear error within the timeout.
  r = sh("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) + " " + train +
         " --set train.ddp_timeout_s=2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("could not reach the rendezvous store"), std::string::npos) << r.output;
}

// The oracle's premise: with train.batch_size global, the rows of rank r of W are exactly the rows
// r, r+W, ... of what one process takes, for every task (lm, mqar, mlm), at any step/micro-batch.
TEST(DdpUnit, ShardsAreTheRowsOfOneProcess) {
  TempDir d("ddp-shards");
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the quick brown fox " + std::to_string(i % 37) + " jumps over the lazy dog\n";
  test::write_text(d / "train.txt", text);
  for (const char* task : {"mqar", "lm", "mlm"}) {
    toml::table t = load_config("gpt-tiny");
    apply_override(t, std::string("data.task=\"") + task + "\"");
    apply_override(t, "train.batch_size=8");
    apply_override(t, "train.grad_accum=2");
    if (std::string(task) != "mqar") {
      apply_override(t, "data.train=\"" + d / "train.txt" + "\"");
      apply_override(t, "data.cache_dir=\"" + d / "cache" + "\"");
      apply_override(t, "data.tokenizer.kind=\"byte\"");
    }
    if (std::string(task) == "mlm") apply_override(t, "model.kind=\"encoder\"");
    RunConfig cfg = parse_run_config(t);
    auto one = make_task(cfg, d / (std::string("run-") + task));
    for (int world : {2, 4}) {
      auto shard = make_task(cfg, d / (std::string("run-") + task));
      for (int64_t step : {0, 3})
        for (int64_t micro : {0, 1}) {
          Batch all = one->train_batch(step, micro, 0, 1);
          for (int r = 0; r < world; ++r) {
            Batch b = shard->train_batch(step, micro, r, world);
            ASSERT_EQ(b.inputs.size(0), 8 / world);
            at::Tensor rows = at::arange(r, 8, world);
            EXPECT_TRUE(at::equal(b.inputs, all.inputs.index_select(0, rows))) << task << " world " << world;
            EXPECT_TRUE(at::equal(b.targets, all.targets.index_select(0, rows))) << task << " world " << world;
          }
        }
    }
    EXPECT_THROW(one->train_batch(0, 0, 0, 3), ConfigError) << "8 rows do not split over 3 ranks";
  }
}

namespace {

// Runs f(rank) on two threads, each with its own process group over loopback.
void two_ranks(double bucket_mb, const std::function<void(Distributed&, int)>& f) {
  const int port = free_port();
  std::vector<std::string> errors(2);
  std::vector<std::thread> ts;
  for (int r = 0; r < 2; ++r)
    ts.emplace_back([&, r] {
      try {
        DistOptions o;
        o.rank = r, o.world = 2, o.master_port = port, o.timeout_s = 20, o.bucket_mb = bucket_mb;
        auto dist = make_c10d_distributed(o);
        f(*dist, r);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

}  // namespace

// Parameters without a gradient on some rank (a branch not taken) or on every rank (unused) do
// not hang the step: the first get the mean with zeros for the missing, the second stay undefined.
TEST(DdpUnit, UnusedParametersDoNotHang) {
  for (double bucket_mb : {1e-6, 25.0}) {  // one bucket per parameter; one bucket for all
    two_ranks(bucket_mb, [&](Distributed& dist, int r) {
      at::Tensor a = at::ones({4}).requires_grad_(true);
      at::Tensor b = at::ones({3}).requires_grad_(true);
      at::Tensor c = at::ones({2}).requires_grad_(true);  // never used
      at::Tensor e = at::ones({5}).requires_grad_(true);  // used by rank 1 only
      std::vector<at::Tensor> params{a, b, c, e};
      dist.prepare(params);
      for (int step = 0; step < 3; ++step) {
        const double s = r + 1.0;
        // Two micro-batches: the first accumulates without all-reducing.
        for (int m = 0; m < 2; ++m) {
          dist.set_sync(m == 1);
          at::Tensor loss = (a * s).sum() + (b * b).sum() * s;
          if (r == 1) loss = loss + (e * 3).sum();
          loss.backward();
        }
        dist.finish_gradient_sync(params);
        // a: 2 micro-batches x s, mean over s = 1, 2 -> 3; b: 2 x 2b x s -> 6; e: (2 x 3 + 0) / 2 = 3.
        EXPECT_TRUE(at::allclose(a.grad(), at::full({4}, 3.0))) << a.grad();
        EXPECT_TRUE(at::allclose(b.grad(), at::full({3}, 6.0))) << b.grad();
        EXPECT_FALSE(c.grad().defined());
        ASSERT_TRUE(e.grad().defined()) << "rank " << r;
        EXPECT_TRUE(at::allclose(e.grad(), at::full({5}, 3.0))) << e.grad();
        for (auto& p : params) p.mutable_grad() = at::Tensor();
      }
      EXPECT_NEAR(dist.all_reduce_mean(r == 0 ? 1.0 : 3.0), 2.0, 1e-12);
      EXPECT_TRUE(dist.any(r == 1));
      EXPECT_FALSE(dist.any(false));
      // Broadcast: rank 0's values win.
      at::Tensor w = at::full({3}, static_cast<double>(r));
      at::Tensor m = at::full({2}, r == 0).to(at::kBool);
      dist.broadcast_parameters({w, m});
      EXPECT_TRUE(at::equal(w, at::zeros({3})));
      EXPECT_TRUE(m.all().item<bool>() == true);
      dist.barrier();
    });
  }
}

// A loop that forgets set_sync(false) on the earlier micro-batches, or prepare() altogether,
// still gets the right mean.
TEST(DdpUnit, MissingSetSyncOrPrepareStillCorrect) {
  for (bool prepared : {true, false})
    two_ranks(1e-6, [&](Distributed& dist, int r) {
      at::Tensor a = at::ones({4}).requires_grad_(true);
      at::Tensor b = at::ones({2}).requires_grad_(true);
      std::vector<at::Tensor> params{a, b};
      if (prepared) dist.prepare(params);
      for (int step = 0; step < 2; ++step) {
        for (int m = 0; m < 2; ++m) ((a * (r + 1.0)).sum() + (b * 2.0).sum()).backward();
        dist.finish_gradient_sync(params);
        EXPECT_TRUE(at::allclose(a.grad(), at::full({4}, 3.0))) << a.grad();
        EXPECT_TRUE(at::allclose(b.grad(), at::full({2}, 4.0))) << b.grad();
        for (auto& p : params) p.mutable_grad() = at::Tensor();
      }
    });
}
