#include "lmforge/core/precision.h"

#include <ATen/autocast_mode.h>

#include "lmforge/core/error.h"
#include "lmforge/core/peak.h"

namespace lmforge {

at::ScalarType parse_precision(const std::string& name, const std::string& key) {
  if (name == "fp32") return at::kFloat;
  if (name == "bf16") return at::kBFloat16;
  if (name == "auto") return faster_training_precision();
  throw ConfigError(str("config key '", key, "': expected \"fp32\", \"bf16\" or \"auto\", got \"", name, "\""));
}

at::ScalarType faster_training_precision() {
  const Peak p = machine_peak();
  return p.bf16_gflops >= 1.25 * p.fp32_gflops ? at::kBFloat16 : at::kFloat;
}

at::ScalarType active_autocast_dtype(const at::Device& device) {
  if (device.is_cuda()) return at::autocast::is_enabled() ? at::autocast::get_autocast_gpu_dtype() : at::kFloat;
  return at::autocast::is_cpu_enabled() ? at::autocast::get_autocast_cpu_dtype() : at::kFloat;
}

AutocastGuard::AutocastGuard(at::ScalarType dtype, const at::Device& device) {
  if (dtype == at::kFloat) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
  } else {
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // The weight-cast cache lives for the outermost autocast region only.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  } else {
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
}

}  // namespace lmforge
