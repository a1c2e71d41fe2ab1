// Raw-pointer kernels of chunked linear attention (op.h), one set per instruction set:
// *_generic (plain C++, float and double), *_avx512 (float, AVX-512 register-blocked GEMM
// micro-kernel), *_amx_bf16 (bf16 in/out, AMX tile products, fp32 accumulation and states) and
// *_avx512bf16_bf16 (the same bf16 algorithm with VDPBF16PS products, for CPUs without AMX).
// Each runs the (batch*head) slices [bh0, bh1) and is called from at::parallel_for.
// The algorithm (shared by every ISA) is in driver.inc.
#pragma once
#include <cstdint>

namespace lmforge {
namespace lak {

struct LaArgs {
  int64_t BH = 0, L = 0, F = 0, D = 0, chunk = 64;
  bool causal = true;
  double eps = 1e-6;
  // forward: q, k (BH, L, F), v (BH, L, D) -> y (BH, L, D), den (BH, L) (= phi_q.z + eps)
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  void *y = nullptr, *den = nullptr;
  // bf16 kernels (AMX, AVX-512-BF16): an fp32 copy of y (BH, L, D), written by the forward when set
  // and read by the backward instead of the bf16 y (dd = -(g . y) / den feeds a cancelling sum:
  // see bf16_driver.inc).
  void* y32 = nullptr;
  // backward: g = dL/dy (BH, L, D), and y, den from the forward -> dq, dk (BH, L, F), dv (BH, L, D)
  const void* g = nullptr;
  void *dq = nullptr, *dk = nullptr, *dv = nullptr;
};

using LaKernel = void (*)(const LaArgs&, int64_t bh0, int64_t bh1);

void la_fwd_generic_f32(const LaArgs&, int64_t, int64_t);
void la_bwd_generic_f32(const LaArgs&, int64_t, int64_t);
void la_fwd_generic_f64(const LaArgs&, int64_t, int64_t);
void la_bwd_generic_f64(const LaArgs&, int64_t, int64_t);
void la_fwd_avx512_f32(const LaArgs&, int64_t, int64_t);
void la_bwd_avx512_f32(const LaArgs&, int64_t, int64_t);
// bf16 q, k, v (and g, y, dq, dk, dv) with fp32 den, on AMX tiles (cpu_amx.cpp).
void la_fwd_amx_bf16(const LaArgs&, int64_t, int64_t);
void la_bwd_amx_bf16(const LaArgs&, int64_t, int64_t);
// The same contract with VDPBF16PS products instead of tiles (cpu_avx512bf16.cpp).
void la_fwd_avx512bf16_bf16(const LaArgs&, int64_t, int64_t);
void la_bwd_avx512bf16_bf16(const LaArgs&, int64_t, int64_t);

}  // namespace lak
}  // namespace lmforge
