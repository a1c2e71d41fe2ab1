#include "lmforge/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <ATen/Parallel.h>

#include "lmforge/core/log.h"
#include "lmforge/core/peak.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/signals.h"
#include "lmforge/core/threads.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/loss.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/schedule.h"
#include "lmforge/train/step.h"
#include "lmforge/train/task.h"

namespace lmforge {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

}  // namespace

nlohmann::json train(const toml::table& config_in, const TrainOptions& opts, Distributed* dist_in) {
  Distributed local;
  Distributed& dist = dist_in ? *dist_in : local;
  set_log_rank(dist.rank());
  const bool rank0 = dist.rank() == 0;

  // --- config: a resumed run takes its own stored config ------------------------------------
  toml::table config = config_in;
  nlohmann::json state = {{"step", 0}, {"tokens", 0}};
  std::string ckpt;
  if (!opts.resume) {
    // Never overwrite an earlier run's results.
    LMF_REQUIRE(!fs::exists(fs::path(opts.run_dir) / "checkpoint") && !fs::exists(fs::path(opts.run_dir) / "log.jsonl"),
                UserError, "run directory '", opts.run_dir, "' already holds a run; continue it with --resume ",
                opts.run_dir, " or choose another --out");
  } else {
    ckpt = checkpoint_dir(opts.run_dir);
    config = load_checkpoint_config(ckpt);
    state = load_state(ckpt);
  }
  RunConfig cfg = parse_run_config(config);
  check_world_fits(cfg, dist.world());  // train.batch_size is global: it must split over the ranks
  // Default threads: this machine's cores shared by its ranks.
  set_threads(opts.threads > 0 ? opts.threads
              : cfg.run.threads > 0 ? static_cast<int>(cfg.run.threads)
                                    : std::max(1, available_cores() / dist.local_world()));
  const at::Device dev(cfg.run.device);
  const at::ScalarType dtype = parse_precision(cfg.train.precision, "train.precision");
  fs::create_directories(opts.run_dir);

  // --- data, model, optimizer -----------------------------------------------------------------
  // Rank 0 trains the tokenizer and builds the token caches first; the other ranks then find them.
  if (!rank0) dist.barrier();
  std::unique_ptr<Task> task = make_task(cfg, opts.run_dir);
  if (rank0) dist.barrier();
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = task->vocab_size();
  LMF_REQUIRE(cfg.model.vocab_size >= task->vocab_size(), ConfigError, "model.vocab_size ", cfg.model.vocab_size,
              " is smaller than the data's vocabulary (", task->vocab_size(), ")");
  const toml::table resolved = run_config_to_toml(cfg);
  if (rank0) write_file_atomic((fs::path(opts.run_dir) / "config.toml").string(), to_toml_string(resolved));

  at::manual_seed(static_cast<uint64_t>(cfg.run.seed));
  auto model = std::make_shared<LanguageModel>(cfg.model);
  if (!opts.init_weights.empty()) load_weights(opts.init_weights, *model);
  model->to(dev);
  NamedParams named;
  for (const auto& p : model->named_parameters()) named.emplace_back(p.key(), p.value());
  OptimConfig oc;
  oc.name = cfg.train.optimizer;
  oc.lr = cfg.train.lr;
  oc.beta1 = cfg.train.beta1, oc.beta2 = cfg.train.beta2, oc.eps = cfg.train.eps;
  oc.weight_decay = cfg.train.weight_decay;
  std::vector<double> lr_scales;  // per optimizer group: modules may ask for their own (nn/param_groups.h)
  auto optimizer = make_optimizer(oc, named, collect_param_group_hints(*model), &lr_scales);
  if (opts.resume) {
    load_weights((fs::path(ckpt) / "model.pt").string(), *model);
    load_optimizer((fs::path(ckpt) / "optimizer.pt").string(), *optimizer);
  }
  {
    std::vector<at::Tensor> tensors = model->parameters();
    for (const auto& b : model->buffers()) tensors.push_back(b);
    dist.broadcast_parameters(tensors);  // every rank starts from rank 0's weights
    dist.prepare(model->parameters());   // gradient hooks and buckets
  }

  Schedule sched{cfg.train.schedule, cfg.train.lr, cfg.train.min_lr_ratio, cfg.train.warmup_steps, cfg.train.steps};
  const TrainConfig& tc = cfg.train;
  const int64_t tokens_per_step = tc.batch_size * tc.seq_len * tc.grad_accum;  // batch_size is global
  const double flops_per_token = model->train_flops_per_token(tc.seq_len);
  const double peak = peak_gflops(dtype) * 1e9;
  std::vector<Batch> valid = task->valid_batches(tc.eval_batches);

  JsonlLog log(rank0 ? (fs::path(opts.run_dir) / "log.jsonl").string() : "/dev/null");
  if (rank0 && !opts.quiet)
    log_line(str("lmforge train: ", model->num_parameters(), " parameters, ", tc.steps, " steps of ", tokens_per_step,
                 " tokens, ", tc.precision, ", ", at::get_num_threads(), " threads -> ", opts.run_dir));

  int64_t step = state["step"].get<int64_t>();
  int64_t tokens = state["tokens"].get<int64_t>();
  const int64_t start_step = step;
  nlohmann::json last_eval = state.value("last_eval", nlohmann::json::object());
  auto save = [&](const char* why) {
    if (!rank0) return;
    state["step"] = step;
    state["tokens"] = tokens;
    state["last_eval"] = last_eval;
    save_checkpoint(opts.run_dir, *model, optimizer.get(), state, resolved);
    if (!opts.quiet) log_line(str("saved checkpoint at step ", step, " (", why, ")"));
  };

  install_stop_handlers();
  model->train();
  const auto t_start = Clock::now();
  auto t_log = Clock::now();
  int64_t steps_since_log = 0;
  double loss_since_log = 0;
  bool stopped = false;
  while (step < tc.steps) {
    const double lr = sched.at(step);
    set_learning_rate(*optimizer, lr, lr_scales);
    // Dropout draws from a generator seeded by the step, so a resumed run draws the same masks;
    // and by the rank, so that data-parallel ranks do not drop the same units (rank 0: as before).
    at::manual_seed(static_cast<uint64_t>(cfg.run.seed) * 1000003ULL + static_cast<uint64_t>(step) +
                    0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(dist.rank()));
    std::vector<Batch> micro;
    for (int64_t m = 0; m < tc.grad_accum; ++m) micro.push_back(task->train_batch(step, m, dist.rank(), dist.world()));
    const StepResult sr = train_step(*model, *optimizer, micro, dtype, dev, tc.grad_clip, dist);
    const double step_loss = dist.all_reduce_mean(sr.loss), grad_norm = sr.grad_norm;
    if (!std::isfinite(step_loss) || !std::isfinite(grad_norm))
      throw UserError(str("training diverged at step ", step, ": loss ", step_loss, ", grad norm ", grad_norm,
                          " (lower train.lr or raise train.warmup_steps)"));
    ++step;
    tokens += tokens_per_step;
    ++steps_since_log;
    loss_since_log += step_loss;

    if (step % tc.log_every == 0 || step == tc.steps) {
      const double secs = std::chrono::duration<double>(Clock::now() - t_log).count();
      const double ms = 1000.0 * secs / steps_since_log;
      const double tps = tokens_per_step * steps_since_log / std::max(secs, 1e-9);
      const double mfu = peak > 0 ? tps * flops_per_token / peak : 0.0;
      nlohmann::json rec = {{"type", "train"}, {"step", step}, {"loss", step_loss},
                            {"loss_avg", loss_since_log / steps_since_log}, {"grad_norm", grad_norm},
                            {"lr", lr}, {"ms_per_step", ms}, {"tokens_per_s", tps}, {"mfu", mfu}, {"tokens", tokens}};
      rec.update(dist.stats());
      log.write(rec);
      if (!opts.quiet)
        log_line(str("step ", step, "/", tc.steps, "  loss ", fmt("%.4f", loss_since_log / steps_since_log),
                     "  gnorm ", fmt("%.3f", grad_norm), "  lr ", fmt("%.2e", lr), "  ", fmt("%.1f", ms), " ms/step  ",
                     fmt("%.0f", tps), " tok/s  MFU ", fmt("%.1f", 100.0 * mfu), "%"));
      t_log = Clock::now();
      steps_since_log = 0;
      loss_since_log = 0;
    }
    const bool eval_now = (tc.eval_every > 0 && step % tc.eval_every == 0) || step == tc.steps;
    if (eval_now && !valid.empty()) {
      auto t0 = Clock::now();
      last_eval = evaluate_batches(*model, *task, valid, dtype, dev);
      model->train();
      last_eval["step"] = step;
      nlohmann::json rec = last_eval;
      rec["type"] = "eval";
      log.write(rec);
      if (!opts.quiet) log_line(str("eval step ", step, ": ", last_eval.dump()));
      t_log += Clock::now() - t0;  // evaluation time is not training time
    }
    if (tc.save_every > 0 && step % tc.save_every == 0 && step < tc.steps) save("periodic");
    const double minutes = std::chrono::duration<double>(Clock::now() - t_start).count() / 60.0;
    const bool stop_here = opts.stop_after > 0 && step - start_step >= opts.stop_after;
    // Agreed over ranks, so that all stop after the same step.
    if (dist.any(stop_here || stop_requested() || (tc.max_minutes > 0 && minutes >= tc.max_minutes))) {
      stopped = true;
      break;
    }
  }
  save(stopped ? "stopped" : "final");
  dist.barrier();  // the other ranks end only once rank 0 has saved
  nlohmann::json metrics = last_eval;
  metrics["step"] = step;
  metrics["tokens"] = tokens;
  metrics["parameters"] = model->num_parameters();
  metrics["finished"] = step >= tc.steps;
  metrics["train_seconds"] = std::chrono::duration<double>(Clock::now() - t_start).count();
  if (rank0) write_file_atomic((fs::path(opts.run_dir) / "metrics.json").string(), metrics.dump(2) + "\n");
  return metrics;
}

}  // namespace lmforge
