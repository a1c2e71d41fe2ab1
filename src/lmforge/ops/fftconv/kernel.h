// Internal interface between fftconv/op.cpp (baseline x86-64) and its per-ISA kernels
// (cpu_generic.cpp, cpu_avx2.cpp, cpu_avx512.cpp, cpu_avx512bf16.cpp, cpu_amx.cpp). Plain data only; see plan.h for why.
//
// The kernels compute, for channels h in [h0, h1) and every batch element,
//   v = pre * u,   y = post * (causal_conv(v, k[:Lk]) + D * v)
// with the filter spectrum computed once per channel, two batch elements packed as the real and
// imaginary parts of one complex sequence (the convolution with a real filter is linear, so
// IFFT((V0 + i V1) K) = y0 + i y1 exactly), and the backward as FFT correlations:
//   g = dy * post;  dv = corr(g, k) + D g;  du = pre * dv;  dpre = u * dv;
//   dpost = dy * (conv(v, k) + D v);  dD = sum g v;  dk = Re IFFT(sum_pairs conj(V) G)[:Lk]
// (the real part of the packed product sums the two elements' correlations).
#pragma once
#include <cstdint>

#include "lmforge/ops/fftconv/plan.h"

namespace lmforge {
namespace fftk {

enum class Dt { f32, bf16, f64 };

struct ConvArgs {
  const FftPlan* plan = nullptr;
  Dt dt = Dt::f32;                 // of u, pre, post, y, dy, du, dpre, dpost
  int64_t B = 0, H = 0, L = 0;
  int64_t Lk = 0;                  // taps used (partial convolution: the first Lk)
  int64_t k_stride = 0;            // row stride of k and dk
  int64_t k_len = 0;               // full length of k's rows (dk beyond Lk is zero)
  const void *u = nullptr, *pre = nullptr, *post = nullptr, *dy = nullptr;
  const void* k = nullptr;         // (H, k_stride) float (double for f64)
  const void* D = nullptr;         // (H) float (double for f64), or null
  const uint8_t* keep = nullptr;   // per top-level row: 1 kept, 0 zeroed (frequency sparsity); null = dense
  // outputs
  void *y = nullptr, *du = nullptr, *dpre = nullptr, *dpost = nullptr;
  void *dk = nullptr, *dD = nullptr;  // float (double for f64)
};

using ConvKernel = void (*)(const ConvArgs&, int64_t h0, int64_t h1);

// Forward and backward per ISA. The avx2/avx512 kernels take f32 and bf16 and hand f64 to generic.
void conv_fwd_generic(const ConvArgs&, int64_t h0, int64_t h1);
void conv_bwd_generic(const ConvArgs&, int64_t h0, int64_t h1);
void conv_fwd_avx2(const ConvArgs&, int64_t h0, int64_t h1);
void conv_bwd_avx2(const ConvArgs&, int64_t h0, int64_t h1);
void conv_fwd_avx512(const ConvArgs&, int64_t h0, int64_t h1);
void conv_bwd_avx512(const ConvArgs&, int64_t h0, int64_t h1);
// AMX-BF16 tile stages for bf16 inputs (cpu_amx.cpp); any other dtype goes to the AVX-512 kernel.
void conv_fwd_amx(const ConvArgs&, int64_t h0, int64_t h1);
void conv_bwd_amx(const ConvArgs&, int64_t h0, int64_t h1);
// VDPBF16PS stages for bf16 inputs (cpu_avx512bf16.cpp: CPUs without AMX); other dtypes -> AVX-512.
void conv_fwd_avx512bf16(const ConvArgs&, int64_t h0, int64_t h1);
void conv_bwd_avx512bf16(const ConvArgs&, int64_t h0, int64_t h1);

// The bare forward FFT (in place, result in the plan's layout), for the oracle tests.
void fft_generic_f64(const FftPlan& p, double* re, double* im);
void fft_generic_f32(const FftPlan& p, float* re, float* im);
void fft_avx512_f32(const FftPlan& p, float* re, float* im);
void fft_amx_f32(const FftPlan& p, float* re, float* im);  // the tile stages on fp32 data (bf16 products)
void fft_avx512bf16_f32(const FftPlan& p, float* re, float* im);  // the VDPBF16PS stages on fp32 data

}  // namespace fftk
}  // namespace lmforge
