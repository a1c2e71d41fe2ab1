// The schedule's clock: steps or the share of a time budget; see schedule_clock.h.
#include "lmforge/train/schedule_clock.h"

#include <algorithm>

#include "lmforge/core/error.h"

namespace lmforge {

ScheduleClockMode parse_schedule_clock(const std::string& s, const std::string& key) {
  if (s == "steps") return ScheduleClockMode::kSteps;
  if (s == "time") return ScheduleClockMode::kTime;
  if (s == "auto") return ScheduleClockMode::kAuto;
  throw ConfigError(str("config key '", key, "': expected \"steps\", \"time\" or \"auto\", got \"", s, "\""));
}

ScheduleClock::ScheduleClock(ScheduleClockMode mode, int64_t total_steps, double budget_seconds, bool time_engaged)
    : mode_(mode), total_(total_steps), budget_(budget_seconds), engaged_(false) {
  LMF_REQUIRE(mode != ScheduleClockMode::kTime || budget_seconds > 0, ConfigError,
              "config key 'train.schedule_clock' = \"time\" reads the schedule from the time budget: it needs "
              "train.max_minutes > 0 (use \"auto\" to fall back to steps when there is none)");
  engaged_ = uses_time() && (mode == ScheduleClockMode::kTime || time_engaged);
}

SchedulePosition ScheduleClock::position(int64_t step, double train_seconds, double step_seconds,
                                         int64_t measured_steps) {
  const double by_steps = static_cast<double>(step);
  const double total = static_cast<double>(total_);
  if (uses_time() && !engaged_ && measured_steps >= kAutoMinSteps && step_seconds > 0)
    // Auto: switch once the steps left at the measured pace no longer fit in what is left of the
    // budget. Kept for the rest of the run: switching back would move the lr backwards.
    engaged_ = train_seconds + step_seconds * static_cast<double>(total_ - step) > budget_;
  if (!engaged_) return {by_steps, by_steps / total, false};

  SchedulePosition p;
  p.last = train_seconds + step_seconds >= budget_;
  // e / (B - d): reaches 1 exactly at the start of the last step that fits (see the header).
  const double f = p.last ? 1.0 : std::min(1.0, train_seconds / (budget_ - step_seconds));
  p.step = std::max({by_steps, f * total, last_step_});
  last_step_ = p.step;
  p.progress = p.step / total;
  return p;
}

}  // namespace lmforge
