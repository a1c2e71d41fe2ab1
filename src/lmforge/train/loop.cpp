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

}  // namespace

nlohmann::json LoopState::to_json() const {
  nlohmann::json j = {{"step", step}, {"tokens", tokens}, {"skipped_steps", skipped}, {"last_eval", last_eval}};
  if (!best.is_null()) j["best"] = best;
  return j;
}

LoopState LoopState::from_json(const nlohmann::json& j) {
  LoopState s;
  s.step = j.value("step", int64_t{0});
  s.tokens = j.value("tokens", int64_t{0});
  s.skipped = j.value("skipped_steps", int64_t{0});
  s.last_eval = j.value("last_eval", nlohmann::json::object());
  s.best = j.value("best", nlohmann::json());
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

  LoopResult res;
  install_stop_handlers();
  model.train();
  const int64_t start_step = state.step;
  const auto t_start = Clock::now();
  auto t_log = Clock::now();
  int64_t steps_since_log = 0, tokens_since_log = 0, consecutive_skips = 0;
  double loss_since_log = 0;
  EtaEstimator eta_est;
  double last_eval_seconds = 0;  // the evaluations still to come take as long as the last one
  bool stopped = false;
  StepOptions so = o.step;
  while (state.step < o.steps) {
    const auto t_step = Clock::now();
    const double lr = schedule.at(state.step);
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
    eta_est.add_step(std::chrono::duration<double>(Clock::now() - t_step).count());
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

    if ((state.step % o.log_every == 0 || state.step == o.steps) && steps_since_log > 0) {
      const double secs = std::chrono::duration<double>(Clock::now() - t_log).count();
      const double ms = 1000.0 * secs / steps_since_log;
      const double tps = tokens_since_log / std::max(secs, 1e-9);
      const double mfu = peak > 0 && o.flops_per_token > 0 ? tps * o.flops_per_token / peak : 0.0;
      // Whichever ends first: the remaining steps (and evaluations) or the time budget.
      const double cap_left = o.max_minutes > 0 ? std::max(0.0, 60.0 * o.max_minutes - std::chrono::duration<double>(
                                                                                             Clock::now() - t_start).count())
                                                : -1.0;
      const double eval_left = valid.empty() ? 0.0 : evaluations_left(state.step, o.steps, o.eval_every) * last_eval_seconds;
      const double eta = eta_est.remaining(o.steps - state.step, eval_left, cap_left);
      if (log) {
        nlohmann::json rec = {{"type", "train"}, {"step", state.step}, {"loss", sr.loss},
                              {"loss_avg", loss_since_log / steps_since_log}, {"grad_norm", sr.grad_norm}, {"lr", lr},
                              {"ms_per_step", ms}, {"tokens_per_s", tps}, {"mfu", mfu}, {"tokens", state.tokens},
                              {"eta_s", eta}};
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
        events->add_scalars(state.step, sc);
      }
      if (!o.quiet)
        log_line(str(o.label, " ", state.step, "/", o.steps, "  loss ", fmt("%.4f", loss_since_log / steps_since_log),
                     "  gnorm ", fmt("%.3f", sr.grad_norm), "  lr ", fmt("%.2e", lr), "  ", fmt("%.1f", ms),
                     " ms/step  ", fmt("%.0f", tps), " tok/s",
                     o.flops_per_token > 0 ? "  MFU " + fmt("%.1f", 100.0 * mfu) + "%" : std::string(), "  eta ",
                     format_duration(eta)));
      t_log = Clock::now();
      steps_since_log = 0, tokens_since_log = 0;
      loss_since_log = 0;
    }
    const bool eval_now = (o.eval_every > 0 && state.step % o.eval_every == 0) || state.step == o.steps;
    if (eval_now && !valid.empty()) {
      auto t0 = Clock::now();
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
      t_log += Clock::now() - t0;  // evaluation time is not training time
      last_eval_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    if (o.save_every > 0 && state.step % o.save_every == 0 && state.step < o.steps) do_save("periodic");
    const double minutes = std::chrono::duration<double>(Clock::now() - t_start).count() / 60.0;
    const bool stop_here = o.stop_after > 0 && state.step - start_step >= o.stop_after;
    // Agreed over ranks, so that all stop after the same step.
    if (dist.any(stop_here || stop_requested() || (o.max_minutes > 0 && minutes >= o.max_minutes))) {
      stopped = true;
      break;
    }
  }
  if (events) events->flush();
  do_save(stopped ? "stopped" : "final");
  res.finished = state.step >= o.steps;
  res.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return res;
}

}  // namespace lmforge
