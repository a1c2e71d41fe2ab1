// Raw-pointer kernels of flash attention (op.h), one set per instruction set: *_generic (plain C++,
// float and double), *_avx512 (float; an AVX-512 register-blocked GEMM micro-kernel and a
// vectorised exp) and *_avx512bf16 (the same with bf16 products: VDPBF16PS). Each runs the (batch*head) slices [bh0, bh1) and is called from at::parallel_for.
// The tiled algorithm (shared by every ISA) is in driver.inc.
#pragma once
#include <cstdint>

namespace lmforge {
namespace fak {

// One tensor of shape (B, H, N, D) by strides (elements); the last dimension is contiguous.
struct View {
  void* p = nullptr;
  int64_t sb = 0, sh = 0, sn = 0;
};

struct FaArgs {
  int64_t B = 0, H = 0, L = 0, S = 0, D = 0;  // queries are the last L of the S key positions
  bool causal = true;
  int64_t window = 0;            // 0: no window; else key j is visible from query i when |i - j| < window
  double scale = 0;              // applied to Q K^T
  const float* slopes = nullptr;  // ALiBi: H slopes, bias(i, j) = -slope_h |i - j|; null = none
  const uint8_t* key_padding = nullptr;  // (B, S), 1 = a real key; null = all keys real
  // forward: q (L), k, v (S) -> y (L), lse (B*H, L) (log-sum-exp of each row; +inf when no key is visible)
  View q, k, v, y;
  float* lse = nullptr;
  // backward: g = dL/dy (L) with y and lse from the forward -> dq (L), dk, dv (S)
  View g, dq, dk, dv;
};

using FaKernel = void (*)(const FaArgs&, int64_t bh0, int64_t bh1);

void fa_fwd_generic_f32(const FaArgs&, int64_t, int64_t);
void fa_bwd_generic_f32(const FaArgs&, int64_t, int64_t);
void fa_fwd_generic_f64(const FaArgs&, int64_t, int64_t);
void fa_bwd_generic_f64(const FaArgs&, int64_t, int64_t);
void fa_fwd_avx512_f32(const FaArgs&, int64_t, int64_t);
void fa_bwd_avx512_f32(const FaArgs&, int64_t, int64_t);
// bf16 q, k, v (and g), fp32 y, dq, dk, dv: GEMMs on AMX tiles (cpu_amx.cpp; needs D % 32 == 0).
void fa_fwd_amx_bf16(const FaArgs&, int64_t, int64_t);
void fa_bwd_amx_bf16(const FaArgs&, int64_t, int64_t);
// fp32 data, GEMMs on bf16-rounded operands with VDPBF16PS (for bf16 inputs; needs avx512_bf16).
void fa_fwd_avx512bf16_f32(const FaArgs&, int64_t, int64_t);
void fa_bwd_avx512bf16_f32(const FaArgs&, int64_t, int64_t);

}  // namespace fak
}  // namespace lmforge
