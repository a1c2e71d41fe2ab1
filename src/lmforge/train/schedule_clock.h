// Where a run stands in its learning-rate schedule: counted in steps, or in the share of a time
// budget used (train.schedule_clock).
//
// The step clock is the schedule as it always was: step s of train.steps. A run capped by
// train.max_minutes on a machine slower than the preset assumed stops wherever the cap falls, and
// its schedule never anneals (wt103-small on a 600 ms/step machine stops at a third of its steps,
// the cosine barely past its peak). The time clock reads the schedule at the share of the budget
// used instead, so warmup and decay stretch or shrink to the budget and the last step the budget
// allows runs at the schedule's final value; the run then ends there, finished.
//
// The time a budget counts is training time only: the steps (data, forward, backward, optimizer,
// the log line), not evaluation, checkpoints or setup, so an evaluation does not move the schedule,
// and summed over the whole run (a resumed run goes on with the seconds stored in its checkpoint).
//
// The position is in (fractional) steps of train.steps, so every shape is read the same way with
// either clock: budget fraction f is the step clock's lr at step f * train.steps. The step that
// starts after e seconds of training, d seconds being the recent median step time, reads
//     f = e / (B - d)      (1 once e + d >= B: that step is the last)
// so the step during which the budget B runs out is read at f = 1, the end of the decay, and is the
// last: the run ends 0 to 1 step (half a step on average) after B. The median of recent steps, not
// the mean since the start, keeps the slow first steps (allocation, caches) and an odd slow one
// from moving the end: a slow step only uses budget. The position never goes back (f could, a
// little, when the median falls after a slow start). Ending exactly at the cap instead would cut
// the run just short of the floor as often as not; the last step is what "always anneals" costs,
// also when the step before it ran slower than the median (it is then the last, at f = 1).
// When train.steps ends first (a faster machine than the budget assumed), the step count leads:
// the position is the larger of the two, so a run ends at the end of its schedule whichever
// limit it meets.
//
//   steps  the step clock (the default; bit-identical to the loop before the time clock existed)
//   time   the time clock from the first step (needs train.max_minutes > 0)
//   auto   the step clock until the measured step time says the budget ends before train.steps
//          would (elapsed + median step x steps left > budget), then the time clock for the rest
//          of the run (a decision kept in the checkpoint); the step clock when there is no budget
#pragma once
#include <cstdint>
#include <string>

namespace lmforge {

enum class ScheduleClockMode { kSteps, kTime, kAuto };

// "steps" | "time" | "auto"; anything else is a ConfigError naming `key`.
ScheduleClockMode parse_schedule_clock(const std::string& s, const std::string& key = "train.schedule_clock");

struct SchedulePosition {
  double step = 0;    // where the schedule is read, in steps of train.steps (LrSchedule::at_position)
  double progress = 0;  // the same as a share of the schedule, step / total steps
  bool last = false;  // the time budget ends with this step
};

class ScheduleClock {
 public:
  // total_steps: train.steps; budget_seconds: train.max_minutes * 60 (0: none); time_engaged: an
  // "auto" run that switched to the time clock before it was resumed.
  ScheduleClock(ScheduleClockMode mode, int64_t total_steps, double budget_seconds, bool time_engaged = false);

  // Whether this clock reads time at all (time, or auto with a budget); else position() is the step.
  bool uses_time() const { return mode_ != ScheduleClockMode::kSteps && budget_ > 0; }
  // Whether the time clock is running now (always for time; for auto, once it switched).
  bool time_engaged() const { return engaged_; }

  // The position of the step about to run. `step`: the steps done (the schedule's step index);
  // `train_seconds`: training time used so far; `step_seconds`: the recent median step time (0
  // before any was measured); `measured_steps`: steps timed in this process (auto waits for a few,
  // so that one slow first step does not decide). Every argument must be the same on every rank
  // (the loop takes rank 0's), so all ranks read the same lr and agree on the last step.
  SchedulePosition position(int64_t step, double train_seconds, double step_seconds, int64_t measured_steps);

  // Auto: steps that must be timed before the projection may switch to the time clock.
  static constexpr int64_t kAutoMinSteps = 3;

 private:
  ScheduleClockMode mode_;
  int64_t total_;
  double budget_;
  bool engaged_;
  double last_step_ = 0;  // never read the schedule backwards (the median step time may fall)
};

}  // namespace lmforge
