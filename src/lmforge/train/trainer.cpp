#include "lmforge/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <ATen/Parallel.h>

#include "lmforge/core/file_io.h"
#include "lmforge/core/log.h"
#include "lmforge/core/peak.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/signals.h"
#include "lmforge/core/tensorboard.h"
#include "lmforge/core/threads.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/loop.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/optimizers/adam_family.h"
#include "lmforge/train/retention.h"
#include "lmforge/train/schedule.h"
#include "lmforge/train/task.h"

namespace lmforge {

namespace fs = std::filesystem;

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
  std::shared_ptr<Task> task = make_task(cfg, opts.run_dir);
  if (rank0) dist.barrier();
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = task->vocab_size();
  LMF_REQUIRE(cfg.model.vocab_size >= task->vocab_size(), ConfigError, "model.vocab_size ", cfg.model.vocab_size,
              " is smaller than the data's vocabulary (", task->vocab_size(), ")");
  LMF_REQUIRE(cfg.model.peft.kind == "none", ConfigError, "config key 'model.peft.kind' = \"", cfg.model.peft.kind,
              "\": adapters fine-tune a pretrained model (lmforge glue --peft); lmforge train trains every weight");
  const toml::table resolved = run_config_to_toml(cfg);
  if (rank0) write_file_atomic((fs::path(opts.run_dir) / "config.toml").string(), to_toml_string(resolved));

  at::manual_seed(static_cast<uint64_t>(cfg.run.seed));
  auto model = std::make_shared<LanguageModel>(cfg.model);
  if (!opts.init_weights.empty()) load_weights(opts.init_weights, *model);
  model->to(dev);
  const TrainConfig& tc = cfg.train;
  BuiltOptimizer built = build_optimizer(tc.optimizer, *model, tc.lr, tc.weight_decay);
  if (opts.resume) {
    load_weights(weights_path(ckpt), *model);
    load_optimizer((fs::path(ckpt) / "optimizer.pt").string(), *built.optimizer);
  }
  {
    std::vector<at::Tensor> tensors = model->parameters();
    for (const auto& b : model->buffers()) tensors.push_back(b);
    dist.broadcast_parameters(tensors);  // every rank starts from rank 0's weights
    dist.prepare(model->parameters());   // gradient hooks and buckets
  }
  LrSchedule sched(tc.schedule, tc.lr, tc.min_lr_ratio, tc.warmup_steps, tc.steps);

  LoopOptions lo;
  lo.steps = tc.steps, lo.grad_accum = tc.grad_accum;
  lo.step.dtype = dtype, lo.step.device = dev, lo.step.grad_clip = tc.grad_clip, lo.step.on_nonfinite = tc.on_nonfinite;
  lo.seed = static_cast<uint64_t>(cfg.run.seed);
  lo.log_every = tc.log_every, lo.eval_every = tc.eval_every, lo.eval_batches = tc.eval_batches;
  lo.save_every = tc.save_every, lo.max_minutes = tc.max_minutes, lo.stop_after = opts.stop_after;
  lo.schedule_clock = parse_schedule_clock(tc.schedule_clock);
  lo.flops_per_token = model->train_flops_per_token(tc.seq_len);
  lo.quiet = opts.quiet;

  JsonlLog log(rank0 ? (fs::path(opts.run_dir) / "log.jsonl").string() : "/dev/null");
  // TensorBoard scalars beside log.jsonl; a resumed run starts a new file (TensorBoard merges them).
  std::unique_ptr<TensorBoardWriter> events;
  if (rank0 && tc.tensorboard) events = std::make_unique<TensorBoardWriter>(opts.run_dir);
  lo.events = events.get();
  if (rank0 && !opts.quiet)
    log_line(str("lmforge train: ", model->num_parameters(), " parameters, ", tc.steps, " steps of ",
                 tc.batch_size * tc.seq_len * tc.grad_accum, " tokens, ",
                 tc.precision == "auto" ? str("auto -> ", dtype == at::kBFloat16 ? "bf16" : "fp32") : tc.precision, ", ",
                 tc.optimizer.name, ", ", at::get_num_threads(), " threads",
                 lo.schedule_clock != ScheduleClockMode::kSteps && tc.max_minutes > 0
                     ? str(", or ", tc.max_minutes, " min of training (schedule_clock ", tc.schedule_clock, ")")
                     : std::string(),
                 " -> ", opts.run_dir));

  LoopState ls = LoopState::from_json(state);
  auto save = [&](const char* why, const LoopState& s) {
    save_checkpoint(opts.run_dir, *model, built.optimizer.get(), s.to_json(), resolved);
    snapshot_checkpoint(opts.run_dir, s.step, tc.keep_last);
    if (!opts.quiet) log_line(str("saved checkpoint at step ", s.step, " (", why, ")"));
  };
  // train.keep_best (train/retention.h): the metric is checked on one validation batch before
  // training, so a misspelt name fails now rather than at the first evaluation.
  std::unique_ptr<BestMetric> best;
  if (!tc.keep_best.empty()) {
    std::vector<Batch> probe = task->valid_batches(1);
    LMF_REQUIRE(!probe.empty(), ConfigError, "config key 'train.keep_best' = \"", tc.keep_best,
                "\": needs validation data (data.valid), and this run has none");
    BestMetric(tc.keep_best, nullptr).update(evaluate_batches(*model, *task, probe, dtype, dev), 0);
    best = std::make_unique<BestMetric>(tc.keep_best, ls.best);
    lo.after_eval = [&](LoopState& s) {
      if (!best->update(s.last_eval, s.step)) return;
      s.best = best->record();
      save_checkpoint_as(opts.run_dir, "checkpoint-best", *model, nullptr, s.to_json(), resolved);
      if (!opts.quiet)
        log_line(str("saved checkpoint-best at step ", s.step, " (", tc.keep_best, " ", s.last_eval[tc.keep_best].dump(), ")"));
    };
  }
  const LoopResult lr = run_loop(*model, *task, *built.optimizer, built.lr_scales, sched, lo, ls, dist, &log, save);
  const nlohmann::json& last_eval = ls.last_eval;
  const int64_t step = ls.step, tokens = ls.tokens;
  dist.barrier();  // the other ranks end only once rank 0 has saved
  nlohmann::json metrics = last_eval;
  metrics["step"] = step;
  metrics["tokens"] = tokens;
  metrics["parameters"] = model->num_parameters();
  metrics["finished"] = lr.finished;
  metrics["skipped_steps"] = ls.skipped;
  metrics["train_seconds"] = lr.seconds;
  if (lo.schedule_clock != ScheduleClockMode::kSteps && tc.max_minutes > 0) {
    // Which clock the schedule ended on, and how much of the time budget the whole run used.
    metrics["schedule_clock"] = ls.time_clock ? "time" : "steps";
    metrics["budget_used"] = ls.train_seconds / (60.0 * tc.max_minutes);
  }
  metrics["optimizer_state_bytes"] = optimizer_state_bytes(*built.optimizer);
  if (rank0) write_file_atomic((fs::path(opts.run_dir) / "metrics.json").string(), metrics.dump(2) + "\n");
  return metrics;
}

}  // namespace lmforge
