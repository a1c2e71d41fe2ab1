#include "lmforge/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "lmforge/core/error.h"

namespace lmforge {

double Schedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double min = peak * min_ratio;
  const double t = total > warmup ? std::clamp(static_cast<double>(step - warmup) / static_cast<double>(total - warmup), 0.0, 1.0) : 1.0;
  if (kind == "cosine") return min + (peak - min) * 0.5 * (1.0 + std::cos(M_PI * t));
  if (kind == "linear") return peak - (peak - min) * t;
  if (kind == "constant") return peak;
  throw ConfigError(str("config key 'train.schedule': expected cosine, linear or constant, got \"", kind, "\""));
}

}  // namespace lmforge
