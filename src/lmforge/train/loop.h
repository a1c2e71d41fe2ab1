// The training loop every kind of training runs on (lmforge train, pretrain, glue, convert):
//   for each step: lr from the schedule -> dropout seeded by the step -> the task's micro-batches
//   -> train_step (train/step.h) -> log line and JSONL record -> periodic evaluation -> periodic
//   checkpoint -> stop on the step count, the time budget, --stop-after or SIGINT/SIGTERM.
// The schedule is read at the position the schedule clock gives (train/schedule_clock.h): the step,
// or the share of the time budget used.
// What differs between kinds of training is the task (train/task.h), the optimizer and schedule
// (registered components) and what `save` writes; the loop itself is the same.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "lmforge/core/log.h"
#include "lmforge/core/tensorboard.h"
#include "lmforge/train/dist.h"
#include "lmforge/train/schedule.h"
#include "lmforge/train/schedule_clock.h"
#include "lmforge/train/step.h"
#include "lmforge/train/task.h"

namespace lmforge {

struct LoopState;

struct LoopOptions {
  int64_t steps = 1;
  int64_t grad_accum = 1;
  StepOptions step;          // precision, device, clipping, on_nonfinite
  uint64_t seed = 0;         // dropout of step s draws from seed * 1000003 + s
  int64_t log_every = 10;
  int64_t eval_every = 0;    // 0: only at the end
  int64_t eval_batches = 16;
  int64_t save_every = 0;    // 0: only at the end (and when stopped)
  double max_minutes = 0;    // time budget; 0 = none (what it counts depends on schedule_clock)
  // steps: the schedule at step / steps, and max_minutes stops this call after that much wall-clock
  // time. time / auto: the schedule at the share of max_minutes used, counting the training time
  // of the whole run (evaluations and saves excluded); the run is finished when the budget is.
  ScheduleClockMode schedule_clock = ScheduleClockMode::kSteps;
  // Seconds on a monotonic clock, for every duration the loop measures (step times, the budget,
  // ETA); empty: std::chrono::steady_clock. Tests inject a fake clock, so that nothing sleeps.
  std::function<double()> clock;
  int64_t stop_after = 0;    // stop (saving) after this many steps of this call; 0 = never
  int64_t max_consecutive_skips = 20;  // on_nonfinite = "skip": give up after this many in a row
  double flops_per_token = 0;  // model FLOPs per trained token, for MFU (0: not reported)
  bool quiet = false;
  std::string label = "step";  // console prefix
  // TensorBoard scalars beside log.jsonl (rank 0 only; nullptr: none). Tags are events_prefix +
  // "train/loss", "train/lr", ..., "eval/<metric>" (docs/CONFIG.md, "Run outputs").
  TensorBoardWriter* events = nullptr;
  std::string events_prefix;
  // Called on rank 0 after each evaluation (state.last_eval is the new one); may record in
  // state.best what it kept (train.keep_best).
  std::function<void(LoopState&)> after_eval;
};

// What a run has done so far; saved in each checkpoint's state.json and restored on resume.
struct LoopState {
  int64_t step = 0;
  int64_t tokens = 0;
  int64_t skipped = 0;
  nlohmann::json last_eval = nlohmann::json::object();
  nlohmann::json best;  // train.keep_best: {metric, value, step} of checkpoint-best/; null = none yet
  // The schedule clock's state, so a resumed run goes on with the same clock:
  double train_seconds = 0;  // training time of the whole run (evaluations and saves excluded)
  double step_seconds = 0;   // the recent median step time when saved (seeds the estimate on resume)
  bool time_clock = false;   // schedule_clock auto: switched to the time clock
  bool budget_done = false;  // the time budget has ended the run (it is finished: resuming does nothing)
  nlohmann::json to_json() const;
  static LoopState from_json(const nlohmann::json& j);
};

struct LoopResult {
  bool finished = false;  // reached opts.steps or the end of a time-clock budget (not stopped early)
  double seconds = 0;
  double first_loss = 0, last_loss = 0;  // training loss of the first and last step of this call
};

// Runs the loop from state.step to opts.steps. `save(why, state)` is called on rank 0 for periodic,
// stopping and final checkpoints (may be empty: nothing is saved). A NonFiniteError (stop policy)
// propagates with the last checkpoint on disk untouched. The model is left in eval mode if the last
// thing was an evaluation, else in train mode.
LoopResult run_loop(torch::nn::Module& model, Task& task, torch::optim::Optimizer& opt,
                    const std::vector<double>& lr_scales, const LrSchedule& schedule, const LoopOptions& o,
                    LoopState& state, Distributed& dist, JsonlLog* log,
                    const std::function<void(const char* why, const LoopState&)>& save);

}  // namespace lmforge
