// Mixed precision: bf16 autocast on CPU (oneDNN/AMX matmuls) and on CUDA, as one scoped guard.
// Master weights, optimizer state and reductions stay fp32; autocast casts the matmul inputs.
#pragma once
#include <string>

#include <ATen/ATen.h>

namespace lmforge {

// "fp32" -> kFloat, "bf16" -> kBFloat16, "auto" -> faster_training_precision(); ConfigError
// otherwise (names the key).
at::ScalarType parse_precision(const std::string& name, const std::string& key);

// The training precision this machine runs faster: bf16 when its measured bf16 matmul peak
// (core/peak.h: measured once per machine and thread count, then cached) is at least 1.25x the
// fp32 one, else fp32. On the Intel AMX machines bf16 (oneDNN on AMX tiles, ~4x); on the AMD
// EPYC ones bf16 as well (oneDNN with avx512_bf16 against OpenBLAS's Haswell fp32 kernels). A
// matmul proxy, not a measured training step: the casts of autocast are not in it.
at::ScalarType faster_training_precision();

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
