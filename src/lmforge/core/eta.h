// Time-to-finish of a training run, for the console log line ("eta 3m12s") and log.jsonl (eta_s).
//
// The step time is the median of the last `window` steps, not the mean since the start: the first
// steps (allocation, caches, autotuning) and the odd slow one (a checkpoint, a page-cache miss)
// would otherwise skew the estimate for the whole run, while a median over ~32 steps follows a
// real change of speed within a few dozen steps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace lmforge {

// "0s", "45s", "3m12s", "2h05m", "3d04h"; "?" for a negative or non-finite value.
std::string format_duration(double seconds);

// The training loop's evaluations still to come once step `step` is logged (the evaluation of that
// step follows its log line): every eval_every-th step in [step, steps], and the last step
// (eval_every 0: the last step only).
int64_t evaluations_left(int64_t step, int64_t steps, int64_t eval_every);

class EtaEstimator {
 public:
  explicit EtaEstimator(size_t window = 32) : window_(window == 0 ? 1 : window) {}
  // The time of one training step (without evaluations or saves, which `remaining` takes apart).
  void add_step(double seconds);
  // Median of the recent steps; 0 before the first.
  double step_seconds() const;
  // steps_left * step_seconds() + extra (e.g. the evaluations still to come); when cap_left >= 0
  // (what is left of a wall-clock budget) the smaller of the two: the run stops at whichever ends first.
  double remaining(int64_t steps_left, double extra = 0, double cap_left = -1) const;

 private:
  size_t window_;
  std::deque<double> recent_;
};

}  // namespace lmforge
