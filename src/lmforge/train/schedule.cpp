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

double LrSchedule::at(int64_t step) const {
  if (warmup_ > 0 && step < warmup_) return peak_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
  const double t = total_ > warmup_
                       ? std::clamp(static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_), 0.0, 1.0)
                       : 1.0;
  if (!shape_->uses_floor()) return peak_ * shape_->at(t);
  const double min = peak_ * min_ratio_;
  return min + (peak_ - min) * shape_->at(t);
}

}  // namespace lmforge
