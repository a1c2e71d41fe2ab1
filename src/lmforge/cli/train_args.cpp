#include "lmforge/cli/train_args.h"

#include <filesystem>
#include <iostream>

#include "lmforge/core/error.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/config_dump.h"
#include "lmforge/train/dist_c10d.h"
#include "lmforge/train/launch.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/task.h"
#include "lmforge/train/trainer.h"

namespace lmforge {

namespace {

// As the trainer checks it, but before starting the ranks (one message rather than one per rank).
void check_new_run_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  LMF_REQUIRE(!fs::exists(fs::path(dir) / "checkpoint") && !fs::exists(fs::path(dir) / "log.jsonl"), UserError,
              "run directory '", dir, "' already holds a run; continue it with --resume ", dir, " or choose another --out");
}

}  // namespace

void add_train_args(CLI::App& app, TrainArgs& a, const std::string& default_preset) {
  a.config.add_to(app, default_preset);
  app.add_option("--out,-o", a.out, "run directory to create (config, log.jsonl, checkpoint/, metrics.json)");
  app.add_option("--resume", a.resume, "continue the run in this directory from its last checkpoint");
  app.add_option("--init-weights", a.init, "start from these weights (pickled dict of tensors, e.g. torch.save)");
  app.add_option("--stop-after", a.stop_after, "save and stop after N steps, as on SIGINT (resume later)");
  app.add_flag("--quiet,-q", a.quiet, "no progress lines");
  app.add_option("--nproc", a.nproc,
                 "data parallel: start N processes on this machine (train.batch_size is split over them); across "
                 "machines set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead (README)");
  app.add_option("--threads", a.threads, "intra-op threads per process (default: run.threads, else cores / processes)");
}

int run_train_args(const TrainArgs& a, const std::function<void(toml::table&)>& adjust) {
  if (a.config.dump) {
    toml::table t = a.config.load();
    RunConfig rc = parse_run_config(t);
    std::cout << run_config_to_commented_toml(rc);
    return 0;
  }
  LMF_REQUIRE(a.nproc >= 1, UserError, "--nproc ", a.nproc, ": expected at least 1 process");
  LMF_REQUIRE(a.threads >= 0, UserError, "--threads ", a.threads, ": expected >= 0 (0 = default)");
  const std::optional<DistOptions> env = dist_options_from_env();
  const bool is_rank = env && env->world > 1;
  LMF_REQUIRE(!is_rank || a.nproc == 1 || a.nproc == env->world, UserError, "--nproc ", a.nproc,
              " conflicts with WORLD_SIZE=", (env ? env->world : 0),
              " from the environment (under torchrun-style variables leave --nproc out)");
  TrainOptions o;
  o.quiet = a.quiet;
  o.threads = a.threads;
  o.init_weights = a.init;
  o.stop_after = a.stop_after;
  toml::table cfg;
  if (!a.resume.empty()) {
    LMF_REQUIRE(a.out.empty() || a.out == a.resume, UserError, "give either --out or --resume, not both");
    o.run_dir = a.resume;
    o.resume = true;
  } else {
    LMF_REQUIRE(!a.out.empty(), UserError, "train needs --out RUN_DIR (or --resume RUN_DIR)");
    o.run_dir = a.out;
    cfg = a.config.load();
    if (adjust) adjust(cfg);
  }
  const int world = is_rank ? env->world : a.nproc;
  if (world > 1) {
    // The mistakes every rank would make: found once, before any process starts.
    const RunConfig rc = parse_run_config(o.resume ? load_checkpoint_config(checkpoint_dir(o.run_dir)) : cfg);
    check_world_fits(rc, world);
    if (!o.resume) check_new_run_dir(o.run_dir);
    if (!is_rank) return launch_local(a.nproc, a.quiet);
    // One rank of a data-parallel run: the process group's settings come from the run's config.
    DistOptions d = *env;
    d.device = rc.run.device;
    d.timeout_s = rc.train.ddp_timeout_s;
    d.bucket_mb = rc.train.ddp_bucket_mb;
    d.quiet = a.quiet;
    std::unique_ptr<Distributed> dist = make_c10d_distributed(d);
    nlohmann::json m = train(cfg, o, dist.get());
    if (d.rank == 0) std::cout << m.dump(2) << std::endl;
    return 0;
  }
  nlohmann::json m = train(cfg, o);
  std::cout << m.dump(2) << std::endl;
  return 0;
}

}  // namespace lmforge
