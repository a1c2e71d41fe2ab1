// Mixed precision: bf16 autocast on CPU (oneDNN/AMX matmuls) and on CUDA, as one scoped guard.
// Master weights, optimizer state and reductions stay fp32; autocast casts the matmul inputs.
#pragma once
#include <string>

#include <ATen/ATen.h>

namespace lmforge {

// "fp32" -> kFloat, "bf16" -> kBFloat16; ConfigError otherwise (names the key).
at::ScalarType parse_precision(const std::string& name, const std::string& key);

// The lower-precision dtype autocast uses on `device` now, or kFloat when autocast is off there.
at::ScalarType active_autocast_dtype(const at::Device& device);

class AutocastGuard {
 public:
  AutocastGuard(at::ScalarType dtype, const at::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false, cuda_ = false, prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace lmforge
