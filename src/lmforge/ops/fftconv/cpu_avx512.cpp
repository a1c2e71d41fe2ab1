// FFT convolution kernels for AVX-512 (fp32 compute; bf16 inputs are widened on load and rounded
// on store, accumulation stays fp32). The Monarch stages of FlashFFTConv (Fu et al. 2023) as
// register-blocked complex matmuls on split re/im planes:
//   level: Y[o, j:j+16] = tw[o, j:j+16] * sum_a F[o, a] X[a, j:j+16]   (4 outputs x 4 partial sums
//          = 16 accumulators, F broadcast from L1, X streamed)
//   leaf:  Z[row, :] = X[row, :] F   (rows of 16 or 32 points held in one or two registers)
// Everything else (gating, packing two batch elements per complex sequence, the filter spectrum
// once per channel, the pointwise products) is the shared driver.inc. See kernel.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "lmforge/ops/fftconv/kernel.h"

namespace lmforge {
namespace fftk {
namespace avx512_isa {
#include "lmforge/ops/fftconv/driver.inc"

template <int CB, bool CONJ>
inline void level_block(const float* gr, const float* gi, int64_t r, const int64_t* orows, const int64_t* irows,
                        int64_t n_in, int64_t m, int64_t j, const float* twr, const float* twi, const float* xr,
                        const float* xi, float* yr, float* yi) {
  __m512 P[CB], Q[CB], R[CB], S[CB];
  for (int b = 0; b < CB; ++b) P[b] = Q[b] = R[b] = S[b] = _mm512_setzero_ps();
  for (int64_t t = 0; t < n_in; ++t) {
    const int64_t a = irows[t];
    const __m512 vr = _mm512_loadu_ps(xr + a * m + j), vi = _mm512_loadu_ps(xi + a * m + j);
    for (int b = 0; b < CB; ++b) {
      const __m512 cr = _mm512_set1_ps(gr[orows[b] * r + a]), ci = _mm512_set1_ps(gi[orows[b] * r + a]);
      P[b] = _mm512_fmadd_ps(cr, vr, P[b]);
      Q[b] = _mm512_fmadd_ps(ci, vi, Q[b]);
      R[b] = _mm512_fmadd_ps(cr, vi, R[b]);
      S[b] = _mm512_fmadd_ps(ci, vr, S[b]);
    }
  }
  for (int b = 0; b < CB; ++b) {
    const int64_t o = orows[b];
    __m512 outr = CONJ ? _mm512_add_ps(P[b], Q[b]) : _mm512_sub_ps(P[b], Q[b]);
    __m512 outi = CONJ ? _mm512_sub_ps(R[b], S[b]) : _mm512_add_ps(R[b], S[b]);
    if (twr) {
      const __m512 tr = _mm512_loadu_ps(twr + o * m + j), ti = _mm512_loadu_ps(twi + o * m + j);
      const __m512 nr = _mm512_fmsub_ps(outr, tr, _mm512_mul_ps(outi, ti));
      outi = _mm512_fmadd_ps(outr, ti, _mm512_mul_ps(outi, tr));
      outr = nr;
    }
    _mm512_storeu_ps(yr + o * m + j, outr);
    _mm512_storeu_ps(yi + o * m + j, outi);
  }
}

template <bool CONJ>
void level_simd(const float* gr, const float* gi, int64_t r, const int64_t* orows, int64_t n_out, const int64_t* irows,
                int64_t n_in, int64_t m, const float* twr, const float* twi, const float* xr, const float* xi, float* yr,
                float* yi) {
  for (int64_t j = 0; j < m; j += 16) {
    int64_t q = 0;
    for (; q + 4 <= n_out; q += 4) level_block<4, CONJ>(gr, gi, r, orows + q, irows, n_in, m, j, twr, twi, xr, xi, yr, yi);
    for (; q + 2 <= n_out; q += 2) level_block<2, CONJ>(gr, gi, r, orows + q, irows, n_in, m, j, twr, twi, xr, xi, yr, yi);
    for (; q < n_out; ++q) level_block<1, CONJ>(gr, gi, r, orows + q, irows, n_in, m, j, twr, twi, xr, xi, yr, yi);
  }
}

// Leaf of 16 points: 4 rows at a time, one register per plane per row.
template <int RB, bool CONJ>
inline void leaf16_block(const float* gr, const float* gi, const int64_t* rows, float* xr, float* xi) {
  __m512 P[RB], Q[RB], R[RB], S[RB];
  for (int b = 0; b < RB; ++b) P[b] = Q[b] = R[b] = S[b] = _mm512_setzero_ps();
  for (int mm = 0; mm < 16; ++mm) {
    const __m512 cr = _mm512_loadu_ps(gr + mm * 16), ci = _mm512_loadu_ps(gi + mm * 16);
    for (int b = 0; b < RB; ++b) {
      const __m512 vr = _mm512_set1_ps(xr[rows[b] * 16 + mm]), vi = _mm512_set1_ps(xi[rows[b] * 16 + mm]);
      P[b] = _mm512_fmadd_ps(vr, cr, P[b]);
      Q[b] = _mm512_fmadd_ps(vi, ci, Q[b]);
      R[b] = _mm512_fmadd_ps(vr, ci, R[b]);
      S[b] = _mm512_fmadd_ps(vi, cr, S[b]);
    }
  }
  for (int b = 0; b < RB; ++b) {
    // (vr + i vi)(cr + i ci) = (P - Q) + i (R + S); with conj(c): (P + Q) + i (S - R)
    _mm512_storeu_ps(xr + rows[b] * 16, CONJ ? _mm512_add_ps(P[b], Q[b]) : _mm512_sub_ps(P[b], Q[b]));
    _mm512_storeu_ps(xi + rows[b] * 16, CONJ ? _mm512_sub_ps(S[b], R[b]) : _mm512_add_ps(R[b], S[b]));
  }
}

// Leaf of 32 points: 2 rows at a time, two registers per plane per row.
template <int RB, bool CONJ>
inline void leaf32_block(const float* gr, const float* gi, const int64_t* rows, float* xr, float* xi) {
  __m512 P[RB][2], Q[RB][2], R[RB][2], S[RB][2];
  for (int b = 0; b < RB; ++b)
    for (int h = 0; h < 2; ++h) P[b][h] = Q[b][h] = R[b][h] = S[b][h] = _mm512_setzero_ps();
  for (int mm = 0; mm < 32; ++mm) {
    const __m512 cr0 = _mm512_loadu_ps(gr + mm * 32), ci0 = _mm512_loadu_ps(gi + mm * 32);
    const __m512 cr1 = _mm512_loadu_ps(gr + mm * 32 + 16), ci1 = _mm512_loadu_ps(gi + mm * 32 + 16);
    for (int b = 0; b < RB; ++b) {
      const __m512 vr = _mm512_set1_ps(xr[rows[b] * 32 + mm]), vi = _mm512_set1_ps(xi[rows[b] * 32 + mm]);
      P[b][0] = _mm512_fmadd_ps(vr, cr0, P[b][0]);
      Q[b][0] = _mm512_fmadd_ps(vi, ci0, Q[b][0]);
      R[b][0] = _mm512_fmadd_ps(vr, ci0, R[b][0]);
      S[b][0] = _mm512_fmadd_ps(vi, cr0, S[b][0]);
      P[b][1] = _mm512_fmadd_ps(vr, cr1, P[b][1]);
      Q[b][1] = _mm512_fmadd_ps(vi, ci1, Q[b][1]);
      R[b][1] = _mm512_fmadd_ps(vr, ci1, R[b][1]);
      S[b][1] = _mm512_fmadd_ps(vi, cr1, S[b][1]);
    }
  }
  for (int b = 0; b < RB; ++b)
    for (int h = 0; h < 2; ++h) {
      _mm512_storeu_ps(xr + rows[b] * 32 + 16 * h, CONJ ? _mm512_add_ps(P[b][h], Q[b][h]) : _mm512_sub_ps(P[b][h], Q[b][h]));
      _mm512_storeu_ps(xi + rows[b] * 32 + 16 * h, CONJ ? _mm512_sub_ps(S[b][h], R[b][h]) : _mm512_add_ps(R[b][h], S[b][h]));
    }
}

template <bool CONJ>
void leaf_simd(const float* gr, const float* gi, int64_t n, const int64_t* rows, int64_t nrows, float* xr, float* xi) {
  int64_t q = 0;
  if (n == 16) {
    for (; q + 4 <= nrows; q += 4) leaf16_block<4, CONJ>(gr, gi, rows + q, xr, xi);
    for (; q < nrows; ++q) leaf16_block<1, CONJ>(gr, gi, rows + q, xr, xi);
  } else {
    for (; q + 2 <= nrows; q += 2) leaf32_block<2, CONJ>(gr, gi, rows + q, xr, xi);
    for (; q < nrows; ++q) leaf32_block<1, CONJ>(gr, gi, rows + q, xr, xi);
  }
}

struct Simd {
  static void level(const float* gr, const float* gi, bool conj, int64_t r, const int64_t* orows, int64_t n_out,
                    const int64_t* irows, int64_t n_in, int64_t m, const float* twr, const float* twi, const float* xr,
                    const float* xi, float* yr, float* yi) {
    if (m % 16) return level_generic(gr, gi, conj, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    if (conj) level_simd<true>(gr, gi, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    else level_simd<false>(gr, gi, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
  }
  static void leaf(const float* gr, const float* gi, bool conj, int64_t n, const int64_t* rows, int64_t nrows,
                   float* xr, float* xi) {
    if (n != 16 && n != 32) return leaf_generic(gr, gi, conj, n, rows, nrows, xr, xi);
    if (conj) leaf_simd<true>(gr, gi, n, rows, nrows, xr, xi);
    else leaf_simd<false>(gr, gi, n, rows, nrows, xr, xi);
  }
};

}  // namespace avx512_isa

void conv_fwd_avx512(const ConvArgs& a, int64_t h0, int64_t h1) { avx512_isa::conv_fwd_dispatch<avx512_isa::Simd>(a, h0, h1); }
void conv_bwd_avx512(const ConvArgs& a, int64_t h0, int64_t h1) { avx512_isa::conv_bwd_dispatch<avx512_isa::Simd>(a, h0, h1); }
void fft_avx512_f32(const FftPlan& p, float* re, float* im) { avx512_isa::fft_whole<avx512_isa::Simd, float>(p, re, im); }

}  // namespace fftk
}  // namespace lmforge
