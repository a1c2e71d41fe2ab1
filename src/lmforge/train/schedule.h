// Learning-rate schedules: linear warmup to the peak, then
//   cosine:   lr = min + (peak - min) * (1 + cos(pi * t)) / 2,   t = progress after warmup in [0, 1]
//   linear:   lr = peak - (peak - min) * t
//   constant: lr = peak
// with min = peak * min_lr_ratio.
#pragma once
#include <cstdint>
#include <string>

namespace lmforge {

struct Schedule {
  std::string kind = "cosine";
  double peak = 1e-3;
  double min_ratio = 0.1;
  int64_t warmup = 0;
  int64_t total = 1;
  double at(int64_t step) const;  // step counts from 0
};

}  // namespace lmforge
