// Internal interface between shortconv/op.cpp and its per-ISA kernels (plain data only; see
// fftconv/plan.h for why). Formulas in op.h; the backward:
//   dz[b, s, c] = sum_j w[c, j] g[c][b, s + K - 1 - j],  dw[c, j] = sum_{b,t} g[c][b, t] z[b, t-K+1+j, c],
//   dbias[c] = sum_{b,t} g[c][b, t]
#pragma once
#include <cstdint>

namespace lmforge {
namespace sck {

enum class Dt { f32, bf16, f64 };

struct Args {
  Dt dt = Dt::f32;         // of z, the outputs, g and dz
  int64_t B = 0, L = 0, C = 0, D = 0, K = 0;
  const void* z = nullptr;  // (B, L, C)
  const void* w = nullptr;  // (C, K) float (double for f64)
  const void* bias = nullptr;
  void* const* out = nullptr;    // P pointers to (B, D, L)
  const void* const* g = nullptr;  // P pointers to (B, D, L) (backward)
  void* dz = nullptr;              // (B, L, C)
  void *dw = nullptr, *dbias = nullptr;  // float (double for f64)
};

// Channel blocks [c0, c1) (multiples of 16 except the last).
void fwd_generic(const Args&, int64_t c0, int64_t c1);
void bwd_generic(const Args&, int64_t c0, int64_t c1);
void fwd_avx512(const Args&, int64_t c0, int64_t c1);
void bwd_avx512(const Args&, int64_t c0, int64_t c1);

}  // namespace sck
}  // namespace lmforge
