// Learning-rate schedules: linear warmup to the peak, then a registered decay shape s(t) taking
// progress t in [0, 1] after warmup to a multiplier of the peak-to-floor range:
//   lr(step) = peak * (step + 1) / warmup                       while step < warmup
//   lr(step) = min + (peak - min) * s(t),  t = (step - warmup) / (total - warmup),  min = peak * min_lr_ratio
// The same formula is read at a fractional step by the time clock (train/schedule_clock.h): a
// share f of a time budget is the lr at step f * total, so warmup and decay keep their shares of
// the run whatever the step count turns out to be.
// The shapes, one file each under train/schedules/:
//   cosine:   s = (1 + cos(pi t)) / 2           (Loshchilov & Hutter 2017, without restarts)
//   linear:   s = 1 - t
//   constant: lr = peak after warmup (the floor is not used)
//   wsd:      warmup-stable-decay (Hu et al. 2024, MiniCPM): s = 1, then linear to 0 over the last
//             decay_fraction of the steps
// Chosen in [train.schedule] (name = "cosine", plus the shape's own options); the warmup length and
// the floor are [train] keys shared by every shape.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "lmforge/core/config.h"
#include "lmforge/core/registry.h"

namespace lmforge {

class DecayShape {
 public:
  static constexpr const char* kKind = "schedule";
  virtual ~DecayShape() = default;
  // Multiplier of (peak - min) at progress t in [0, 1]; 1 at t = 0.
  virtual double at(double t) const = 0;
  // False for shapes that stay at the peak and ignore the floor (constant).
  virtual bool uses_floor() const { return true; }
};

struct ScheduleContext {};
using ScheduleRegistry = Registry<DecayShape, ScheduleContext>;

class LrSchedule {
 public:
  // `where` names the config key that chose the shape (for messages).
  LrSchedule(const Choice& shape, double peak, double min_ratio, int64_t warmup, int64_t total,
             const std::string& where = "train.schedule");
  double at(int64_t step) const;  // step counts from 0
  // At a fractional step (the time clock's position); at_position(s) == at(s) for a whole s.
  double at_position(double step) const;
  // At a share f in [0, 1] of the schedule: at_position(f * total). 1 is the end of the decay.
  double at_fraction(double f) const { return at_position(f * static_cast<double>(total_)); }
  int64_t total() const { return total_; }
  double peak() const { return peak_; }

 private:
  std::shared_ptr<DecayShape> shape_;
  double peak_, min_ratio_;
  int64_t warmup_, total_;
};

}  // namespace lmforge
