#include "lmforge/train/loop.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include <ATen/Parallel.h>

#include "lmforge/core/eta.h"
#include "lmforge/core/peak.h"
#include "lmforge/core/signals.h"
#include "lmforge/train/optimizer.h"

namespace lmforge {

using Clock = std::chrono::steady_clock;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// The numbers of a JSON record as TensorBoard scalars, tags prefix + key ("step" and text left out).
void add_numbers(std::vector<std::pair<std::string, double>>& out, const std::string& prefix, const nlohmann::json& rec) {
  for (const auto& [k, v] : rec.items())
    if (v.is_number() && k != "step") out.emplace_back(prefix + k, v.get<double>());
}

// Rank 0's training time and step time on every rank, so that all read the schedule at the same
// position and agree on the last step: the other ranks add zeros, so the sum is rank 0's value
// exactly (their own clocks differ by a little, and the lr must not).
void take_rank0(Distributed& dist, double& train_seconds, double& step_seconds) {
  if (dist.world() == 1) return;
  const bool r0 = dist.rank() == 0;
  std::vector<double> v = {r0 ? train_seconds : 0.0, r0 ? step_seconds : 0.0};
  dist.all_reduce_sum(v);
  train_seconds = v[0], step_seconds = v[1];
}

}  // namespace

nlohmann::json LoopState::to_json() const {
  nlohmann::json j = {{"step", step},
                      {"tokens", tokens},
                      {"skipped_steps", skipped},
                      {"last_eval", last_eval},
                      {"train_seconds", train_seconds},
                      {"step_seconds", step_seconds}};
  if (!best.is_null()) j["best"] = best;
  if (time_clock) j["time_clock"] = true;
  if (budget_done) j["budget_done"] = true;
  return j;
}

LoopState LoopState::from_json(const nlohmann::json& j) {
  LoopState s;
  s.step = j.value("step", int64_t{0});
  s.tokens = j.value("tokens", int64_t{0});
  s.skipped = j.value("skipped_steps", int64_t{0});
  s.last_eval = j.value("last_eval", nlohmann::json::object());
  s.best = j.value("best", nlohmann::json());
  // Checkpoints written before the time clock existed hold none of these: a fresh clock.
  s.train_seconds = j.value("train_seconds", 0.0);
  s.step_seconds = j.value("step_seconds", 0.0);
  s.time_clock = j.value("time_clock", false);
  s.budget_done = j.value("budget_done", false);
  return s;
}

LoopResult run_loop(torch::nn::Module& model, Task& task, torch::optim::Optimizer& opt,
                    const std::vector<double>& lr_scales, const LrSchedule& schedule, const LoopOptions& o,
                    LoopState& state, Distributed& dist, JsonlLog* log,
                    const std::function<void(const char*, const LoopState&)>& save) {
  const bool rank0 = dist.rank() == 0;
  TensorBoardWriter* events = rank0 ? o.events : nullptr;
  const std::string train_tag = o.events_prefix + "train/", eval_tag = o.events_prefix + "eval/";
  const double peak = peak_gflops(o.step.dtype) * 1e9;
  std::vector<Batch> valid = task.valid_batches(o.eval_batches);
  auto do_save = [&](const char* why) {
    if (rank0 && save) save(why, state);
  };

  const std::function<double()> now = o.clock ? o.clock : [] {
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  };

  LoopResult res;
  install_stop_handlers();
  model.train();
  const int64_t start_step = state.step;
  const double t_start = now();
  double t_log = now();
  int64_t steps_since_log = 0, tokens_since_log = 0, consecutive_skips = 0;
  double loss_since_log = 0;
  EtaEstimator eta_est;
  double last_eval_seconds = 0;  // the evaluations still to come take as long as the last one
  bool stopped = false;
  StepOptions so = o.step;

  const double budget_s = 60.0 * o.max_minutes;
  ScheduleClock sched_clock(o.schedule_clock, o.steps, budget_s, state.time_clock);
  // A resumed time-clock run starts from the step time it saved, not from nothing.
  if (sched_clock.uses_time() && state.step_seconds > 0) eta_est.add_step(state.step_seconds);
  // The clock's inputs for the next step: rank 0's, refreshed after every step.
  double clock_seconds = state.train_seconds, clock_step_seconds = eta_est.step_seconds();
  if (sched_clock.uses_time()) take_rank0(dist, clock_seconds, clock_step_seconds);
  int64_t timed_steps = 0;
  while (state.step < o.steps && !state.budget_done) {
    const double t_iter = now();
    const SchedulePosition pos = sched_clock.position(state.step, clock_seconds, clock_step_seconds, timed_steps);
    state.time_clock = sched_clock.time_engaged();
    const double lr = schedule.at_position(pos.step);  // the step clock: at(step), bit for bit
    set_learning_rate(opt, lr, lr_scales);
    // Dropout draws from a generator seeded by the step, so a resumed run draws the same masks;
    // and by the rank, so that data-parallel ranks do not drop the same units (rank 0: as before).
    at::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(state.step) +
                    0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(dist.rank()));
    std::vector<Batch> micro;
    int64_t step_tokens = 0;
    for (int64_t m = 0; m < o.grad_accum; ++m) {
      micro.push_back(task.train_batch(state.step, m, dist.rank(), dist.world()));
      step_tokens += micro.back().tokens();
    }
    step_tokens *= dist.world();  // each rank holds 1/world of the global batch
    so.step = state.step;
    so.seed = o.seed;
    const StepResult sr = train_step(model, task, opt, micro, so, dist);
    eta_est.add_step(now() - t_iter);
    ++timed_steps;
    if (state.step == start_step) res.first_loss = sr.loss;
    res.last_loss = sr.loss;
    ++state.step;
    state.tokens += step_tokens;
    if (sr.skipped) {
      ++state.skipped;
      ++consecutive_skips;
      log_line(str("warning: step ", state.step, ": non-finite loss ", sr.loss, " / gradient norm ", sr.grad_norm,
                   "; update skipped (", state.skipped, " so far)"));
      if (log) log->write({{"type", "skip"}, {"step", state.step}, {"loss", sr.loss}, {"grad_norm", sr.grad_norm}});
      LMF_REQUIRE(consecutive_skips < o.max_consecutive_skips, NonFiniteError, "non-finite training: ",
                  consecutive_skips, " consecutive steps skipped up to step ", state.step,
                  " (lower train.lr or raise train.warmup_steps); the last checkpoint is kept");
    } else {
      consecutive_skips = 0;
      ++steps_since_log;
      loss_since_log += sr.loss;
    }
    tokens_since_log += step_tokens;
    state.train_seconds += now() - t_iter;
    state.step_seconds = eta_est.step_seconds();
    // The time budget ends with this step when the clock read it as the last one (at the end of
    // the decay). The position came from rank 0's numbers, so every rank ends after the same step.
    const bool budget_end = pos.last;
    if (sched_clock.uses_time()) {
      clock_seconds = state.train_seconds, clock_step_seconds = state.step_seconds;
      take_rank0(dist, clock_seconds, clock_step_seconds);
      state.budget_done = budget_end;
    }
    const double t_log_line = now();

    if ((state.step % o.log_every == 0 || state.step == o.steps || budget_end) && steps_since_log > 0) {
      const double secs = now() - t_log;
      const double ms = 1000.0 * secs / steps_since_log;
      const double tps = tokens_since_log / std::max(secs, 1e-9);
      const double mfu = peak > 0 && o.flops_per_token > 0 ? tps * o.flops_per_token / peak : 0.0;
      // Whichever ends first: the remaining steps (and evaluations) or the time budget.
      // (With the time clock the budget is training time, so the cap left is counted the same way.)
      const double cap_left = sched_clock.uses_time() ? std::max(0.0, budget_s - state.train_seconds)
                              : o.max_minutes > 0     ? std::max(0.0, budget_s - (now() - t_start))
                                                      : -1.0;
      const double eval_left = valid.empty() ? 0.0 : evaluations_left(state.step, o.steps, o.eval_every) * last_eval_seconds;
      const double eta = eta_est.remaining(o.steps - state.step, eval_left, cap_left);
      if (log) {
        nlohmann::json rec = {{"type", "train"}, {"step", state.step}, {"loss", sr.loss},
                              {"loss_avg", loss_since_log / steps_since_log}, {"grad_norm", sr.grad_norm}, {"lr", lr},
                              {"ms_per_step", ms}, {"tokens_per_s", tps}, {"mfu", mfu}, {"tokens", state.tokens},
                              {"eta_s", eta}, {"progress", pos.progress}};
        // The time clock's reading: the share of the budget used (progress is the schedule's share).
        if (sched_clock.uses_time()) {
          rec["budget_used"] = state.train_seconds / budget_s;
          rec["schedule_clock"] = sched_clock.time_engaged() ? "time" : "steps";
        }
        rec.update(dist.stats());  // data parallel: bytes all-reduced, buckets, wait time
        log->write(rec);
      }
      if (events) {
        std::vector<std::pair<std::string, double>> sc = {{train_tag + "loss", loss_since_log / steps_since_log},
                                                          {train_tag + "lr", lr},
                                                          {train_tag + "grad_norm", sr.grad_norm},
                                                          {train_tag + "tokens_per_s", tps},
                                                          {train_tag + "ms_per_step", ms},
                                                          {train_tag + "eta_s", eta}};
        if (o.flops_per_token > 0) sc.emplace_back(train_tag + "mfu", mfu);
        if (state.skipped > 0) sc.emplace_back(train_tag + "skipped_steps", static_cast<double>(state.skipped));
        if (sched_clock.uses_time()) sc.emplace_back(train_tag + "progress", pos.progress);
        events->add_scalars(state.step, sc);
      }
      if (!o.quiet)
        log_line(str(o.label, " ", state.step, "/", o.steps, "  loss ", fmt("%.4f", loss_since_log / steps_since_log),
                     "  gnorm ", fmt("%.3f", sr.grad_norm), "  lr ", fmt("%.2e", lr), "  ", fmt("%.1f", ms),
                     " ms/step  ", fmt("%.0f", tps), " tok/s",
                     o.flops_per_token > 0 ? "  MFU " + fmt("%.1f", 100.0 * mfu) + "%" : std::string(),
                     sched_clock.time_engaged() ? "  budget " + fmt("%.0f", 100.0 * state.train_seconds / budget_s) + "%"
                                                : std::string(),
                     "  eta ", format_duration(eta)));
      t_log = now();
      steps_since_log = 0, tokens_since_log = 0;
      loss_since_log = 0;
    }
    state.train_seconds += now() - t_log_line;  // the log line is part of the step's cost
    const bool eval_now = (o.eval_every > 0 && state.step % o.eval_every == 0) || state.step == o.steps || budget_end;
    if (eval_now && !valid.empty()) {
      const double t0 = now();
      state.last_eval = evaluate_batches(model, task, valid, o.step.dtype, o.step.device);
      model.train();
      state.last_eval["step"] = state.step;
      nlohmann::json rec = state.last_eval;
      rec["type"] = "eval";
      if (log) log->write(rec);
      if (events) {
        std::vector<std::pair<std::string, double>> sc;
        add_numbers(sc, eval_tag, state.last_eval);
        events->add_scalars(state.step, sc);
        events->flush();
      }
      if (!o.quiet) log_line(str("eval ", o.label, " ", state.step, ": ", state.last_eval.dump()));
      if (rank0 && o.after_eval) o.after_eval(state);
      t_log += now() - t0;  // evaluation time is not training time
      last_eval_seconds = now() - t0;
    }
    if (budget_end) break;  // finished: the final save follows
    if (o.save_every > 0 && state.step % o.save_every == 0 && state.step < o.steps) do_save("periodic");
    const double minutes = (now() - t_start) / 60.0;
    const bool stop_here = o.stop_after > 0 && state.step - start_step >= o.stop_after;
    // With the time clock the budget ends the run above (training time); the wall-clock cap of
    // this call is the step clock's.
    const bool wall_cap = !sched_clock.uses_time() && o.max_minutes > 0 && minutes >= o.max_minutes;
    // Agreed over ranks, so that all stop after the same step.
    if (dist.any(stop_here || stop_requested() || wall_cap)) {
      stopped = true;
      break;
    }
  }
  if (events) events->flush();
  do_save(stopped ? "stopped" : "final");
  res.finished = state.step >= o.steps || state.budget_done;
  res.seconds = now() - t_start;
  return res;
}

}  // namespace lmforge
