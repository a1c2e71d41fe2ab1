// Warmup + registered decay shape; see schedule.h.
#include "lmforge/train/schedule.h"

#include <algorithm>

#include "lmforge/core/error.h"

namespace lmforge {

LrSchedule::LrSchedule(const Choice& shape, double peak, double min_ratio, int64_t warmup, int64_t total,
                       const std::string& where)
    : peak_(peak), min_ratio_(min_ratio), warmup_(warmup), total_(total) {
  LMF_REQUIRE(warmup >= 0, ConfigError, "config key 'train.warmup_steps': must be >= 0, got ", warmup);
  LMF_REQUIRE(min_ratio >= 0 && min_ratio <= 1, ConfigError, "config key 'train.min_lr_ratio': must be in [0, 1], got ",
              min_ratio);
  shape_ = ScheduleRegistry::at(shape.name, where + ".name").build(shape.options, where, ScheduleContext{});
}

// One formula for both: a whole step converts to double exactly, so at(step) is bit-identical to
// what it was when it took integers only (the golden trajectory depends on it).
double LrSchedule::at(int64_t step) const { return at_position(static_cast<double>(step)); }

double LrSchedule::at_position(double step) const {
  const double warmup = static_cast<double>(warmup_), total = static_cast<double>(total_);
  if (warmup_ > 0 && step < warmup) return peak_ * (step + 1.0) / warmup;
  const double t = total_ > warmup_ ? std::clamp((step - warmup) / (total - warmup), 0.0, 1.0) : 1.0;
  if (!shape_->uses_floor()) return peak_ * shape_->at(t);
  const double min = peak_ * min_ratio_;
  return min + (peak_ - min) * shape_->at(t);
}

}  // namespace lmforge
