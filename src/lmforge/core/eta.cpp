#include "lmforge/core/eta.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace lmforge {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char buf[48];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
  return buf;
}

int64_t evaluations_left(int64_t step, int64_t steps, int64_t eval_every) {
  if (step > steps) return 0;
  if (eval_every <= 0) return 1;
  return steps / eval_every - (step - 1) / eval_every + (steps % eval_every != 0 ? 1 : 0);
}

void EtaEstimator::add_step(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return;
  recent_.push_back(seconds);
  if (recent_.size() > window_) recent_.pop_front();
}

double EtaEstimator::step_seconds() const {
  if (recent_.empty()) return 0;
  std::vector<double> v(recent_.begin(), recent_.end());
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  if (v.size() % 2) return v[mid];
  const double hi = v[mid];
  return (*std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)) + hi) / 2;
}

double EtaEstimator::remaining(int64_t steps_left, double extra, double cap_left) const {
  double eta = static_cast<double>(std::max<int64_t>(0, steps_left)) * step_seconds() + std::max(0.0, extra);
  if (cap_left >= 0) eta = std::min(eta, cap_left);
  return eta;
}

}  // namespace lmforge
