// FFT convolution kernels for bf16 inputs with AVX-512-BF16 dot products (VDPBF16PS: per 32-bit
// lane, c += a_lo b_lo + a_hi b_hi over a pair of bf16, fp32 accumulation): the Monarch DFT stages
// of FlashFFTConv (Fu et al. 2023) for CPUs with avx512_bf16 but no AMX (AMD EPYC). A complex
// multiply-add is one pair product when the pair holds the real and imaginary parts:
//   Re(F x) = (xr, xi) . (Fr, -Fi),   Im(F x) = (xr, xi) . (Fi, Fr)      (conj F: Fi -> -Fi)
//   level (r <= 16, widths of 16): Y[o, j:j+16] = tw[o, j:j+16] * sum_a F[o, a] X[a, j:j+16]
//          B = the pair vectors (Xr[a, j+l], Xi[a, j+l]), l = 0..15, A = the word (Fr, -Fi) or
//          (Fi, Fr) of F[o, a] broadcast; 8 outputs x (re, im) = 16 accumulators.
//   leaf (n = 16 or 32): Z[row, d] = sum_mm X[row, mm] F[mm, d]
//          A = the row's pair word (Xr[mm], Xi[mm]) broadcast, B = the constant vectors
//          (Fr[mm, d], -Fi[mm, d]) and (Fi[mm, d], Fr[mm, d]); 8 rows (n = 16) or 4 (n = 32).
// Precision, the same contract as the AMX kernel (cpu_amx.cpp): every operand is split into
// bf16 hi + lo and each product is accumulated as Ahi Bhi + Alo Bhi + Ahi Blo (~2^-16 relative per
// stage; a single bf16 product per stage put dk 1% off). The data stay fp32 between stages in the
// driver's planes (driver.inc: gating, batch pairs, filter spectrum, pointwise products).
// Cost: 6 VDPBF16PS per complex multiply-add of 16 lanes against 4 FMAs in the fp32 kernel, so
// this path is faster only where VDPBF16PS issues at least 1.5x as often as an fp32 FMA; on the
// Intel machine the op ran 2.6x slower than on the fp32 kernel, so op.cpp selects it only with
// LMFORGE_FFTCONV_DPBF16=1 (docs/BENCHMARKS.md, "The AMD route"). It runs on the default plan
// (fewest multiply-adds: N = 8192 is 8 x 8 x 8 x 16), not the AMX tile plan.
// Stages without a kernel here (radix 32 levels, widths not a multiple of 16, leaves other than
// 16/32) use the AVX-512 fp32 code; fp32 inputs go to the AVX-512 kernel (see the entry points).
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "lmforge/ops/fftconv/kernel.h"

namespace lmforge {
namespace fftk {
namespace avx512bf16_isa {
#include "lmforge/ops/fftconv/driver.inc"
#include "lmforge/ops/fftconv/avx512_stages.inc"
#include "lmforge/ops/fftconv/bf16_split.inc"

// (lo16, hi16) as one 32-bit word: the pair a VDPBF16PS lane multiplies.
inline uint32_t pair_word(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16; }

// Coefficient words of one DFT matrix, built on first use per thread (keyed by the plan's float
// table, which lives as long as the process).
//   level (r <= 16): w[((o * r + a) * 4 + k)], k = 0 re hi (Fr, -Fi), 1 re lo, 2 im hi (Fi, Fr), 3 im lo
//   leaf (n = 16, 32): w[((mm * 2 + plane) * 2 + part) * n + d], plane 0 (Fr, -Fi) / 1 (Fi, Fr) of
//   F[mm, d], part 0 hi / 1 lo
struct DftWords {
  const float* key = nullptr;
  bool conj = false, leaf = false;
  alignas(64) uint32_t w[32 * 2 * 2 * 32];
};
constexpr int kCacheSlots = 8;
thread_local DftWords t_cache[kCacheSlots];
thread_local int t_next = 0;

// The hi and lo words of (x, y): (hi(x), hi(y)) and (lo(x), lo(y)).
inline void split_words(float x, float y, uint32_t& hi, uint32_t& lo) {
  uint16_t xh, xl, yh, yl;
  split_bf16(x, xh, xl);
  split_bf16(y, yh, yl);
  hi = pair_word(xh, yh), lo = pair_word(xl, yl);
}

const DftWords& dft_words(const float* gr, const float* gi, bool conj, int64_t n, bool leaf) {
  for (const DftWords& d : t_cache)
    if (d.key == gr && d.conj == conj && d.leaf == leaf) return d;
  DftWords& d = t_cache[t_next];
  t_next = (t_next + 1) % kCacheSlots;
  const float s = conj ? -1.f : 1.f;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float fr = gr[i * n + j], fi = s * gi[i * n + j];
      if (leaf) {  // i = mm (reduction), j = d (output lane)
        uint32_t* base = d.w + i * 4 * n;
        uint32_t rh, rl, ih, il;
        split_words(fr, -fi, rh, rl);
        split_words(fi, fr, ih, il);
        base[0 * n + j] = rh, base[1 * n + j] = rl, base[2 * n + j] = ih, base[3 * n + j] = il;
        continue;
      }
      uint32_t* c = d.w + (i * n + j) * 4;  // i = o (output), j = a (reduction)
      split_words(fr, -fi, c[0], c[1]);
      split_words(fi, fr, c[2], c[3]);
    }
  d.key = gr, d.conj = conj, d.leaf = leaf;
  return d;
}

inline __m512 dp(__m512 c, __m512i a, __m512i b) { return _mm512_dpbf16_ps(c, (__m512bh)a, (__m512bh)b); }
inline __m512i bcast(uint32_t w) { return _mm512_set1_epi32(static_cast<int>(w)); }

// OB outputs of one 16-column block; bh / bl the packed pair vectors of the n_in input rows.
template <int OB>
inline void level_outputs(const uint32_t* cw, int64_t r, const int64_t* orows, const int64_t* irows, int64_t n_in,
                          const __m512i* bh, const __m512i* bl, int64_t m, int64_t j, const float* twr,
                          const float* twi, float* yr, float* yi) {
  __m512 ar[OB], ai[OB];
  for (int b = 0; b < OB; ++b) ar[b] = ai[b] = _mm512_setzero_ps();
  for (int64_t t = 0; t < n_in; ++t) {
    const __m512i h = bh[t], l = bl[t];
    for (int b = 0; b < OB; ++b) {
      const uint32_t* c = cw + (orows[b] * r + irows[t]) * 4;
      const __m512i rh = bcast(c[0]), rl = bcast(c[1]), ih = bcast(c[2]), il = bcast(c[3]);
      ar[b] = dp(dp(dp(ar[b], rh, h), rl, h), rh, l);
      ai[b] = dp(dp(dp(ai[b], ih, h), il, h), ih, l);
    }
  }
  for (int b = 0; b < OB; ++b) twiddle_store(ar[b], ai[b], twr, twi, orows[b] * m + j, yr, yi);
}

// One level of radix r <= 16 over m columns (m % 16 == 0).
void level_dp(const float* gr, const float* gi, bool conj, int64_t r, const int64_t* orows, int64_t n_out,
              const int64_t* irows, int64_t n_in, int64_t m, const float* twr, const float* twi, const float* xr,
              const float* xi, float* yr, float* yi) {
  const uint32_t* cw = dft_words(gr, gi, conj, r, false).w;
  __m512i bh[16], bl[16];
  for (int64_t j = 0; j < m; j += 16) {
    for (int64_t t = 0; t < n_in; ++t) {  // (Xr, Xi) pairs of each present input row, hi and lo
      const int64_t a = irows[t];
      __m512 rh, rl, ih, il;
      split_ps(_mm512_loadu_ps(xr + a * m + j), rh, rl);
      split_ps(_mm512_loadu_ps(xi + a * m + j), ih, il);
      bh[t] = vnni_pair(rh, ih), bl[t] = vnni_pair(rl, il);
    }
    int64_t q = 0;
    for (; q + 8 <= n_out; q += 8) level_outputs<8>(cw, r, orows + q, irows, n_in, bh, bl, m, j, twr, twi, yr, yi);
    for (; q + 4 <= n_out; q += 4) level_outputs<4>(cw, r, orows + q, irows, n_in, bh, bl, m, j, twr, twi, yr, yi);
    for (; q < n_out; ++q) level_outputs<1>(cw, r, orows + q, irows, n_in, bh, bl, m, j, twr, twi, yr, yi);
  }
}

// RB rows of a leaf of N points, in place.
template <int N, int RB>
inline void leaf_rows(const uint32_t* bw, const int64_t* rows, float* xr, float* xi) {
  constexpr int NV = N / 16;
  alignas(64) uint32_t ph[RB][N], pl[RB][N];  // each row's (Xr[mm], Xi[mm]) words, hi and lo
  for (int b = 0; b < RB; ++b)
    for (int v = 0; v < NV; ++v) {
      __m512 rh, rl, ih, il;
      split_ps(_mm512_loadu_ps(xr + rows[b] * N + 16 * v), rh, rl);
      split_ps(_mm512_loadu_ps(xi + rows[b] * N + 16 * v), ih, il);
      _mm512_store_si512(ph[b] + 16 * v, vnni_pair(rh, ih));
      _mm512_store_si512(pl[b] + 16 * v, vnni_pair(rl, il));
    }
  __m512 zr[RB][NV], zi[RB][NV];
  for (int b = 0; b < RB; ++b)
    for (int v = 0; v < NV; ++v) zr[b][v] = zi[b][v] = _mm512_setzero_ps();
  for (int mm = 0; mm < N; ++mm) {
    const uint32_t* w = bw + mm * 4 * N;
    __m512i brh[NV], brl[NV], bih[NV], bil[NV];
    for (int v = 0; v < NV; ++v) {
      brh[v] = _mm512_load_si512(w + 0 * N + 16 * v), brl[v] = _mm512_load_si512(w + 1 * N + 16 * v);
      bih[v] = _mm512_load_si512(w + 2 * N + 16 * v), bil[v] = _mm512_load_si512(w + 3 * N + 16 * v);
    }
    for (int b = 0; b < RB; ++b) {
      const __m512i h = bcast(ph[b][mm]), l = bcast(pl[b][mm]);
      for (int v = 0; v < NV; ++v) {
        zr[b][v] = dp(dp(dp(zr[b][v], h, brh[v]), l, brh[v]), h, brl[v]);
        zi[b][v] = dp(dp(dp(zi[b][v], h, bih[v]), l, bih[v]), h, bil[v]);
      }
    }
  }
  for (int b = 0; b < RB; ++b)
    for (int v = 0; v < NV; ++v) {
      _mm512_storeu_ps(xr + rows[b] * N + 16 * v, zr[b][v]);
      _mm512_storeu_ps(xi + rows[b] * N + 16 * v, zi[b][v]);
    }
}

void leaf_dp(const float* gr, const float* gi, bool conj, int64_t n, const int64_t* rows, int64_t nrows, float* xr,
             float* xi) {
  const uint32_t* bw = dft_words(gr, gi, conj, n, true).w;
  int64_t q = 0;
  if (n == 16) {
    for (; q + 8 <= nrows; q += 8) leaf_rows<16, 8>(bw, rows + q, xr, xi);
    for (; q < nrows; ++q) leaf_rows<16, 1>(bw, rows + q, xr, xi);
  } else {
    for (; q + 4 <= nrows; q += 4) leaf_rows<32, 4>(bw, rows + q, xr, xi);
    for (; q < nrows; ++q) leaf_rows<32, 1>(bw, rows + q, xr, xi);
  }
}

struct Dp {
  static constexpr int64_t leaf_batch = 8;  // rows per forward-product-inverse group (one leaf_rows<16, 8>)
  static void level(const float* gr, const float* gi, bool conj, int64_t r, const int64_t* orows, int64_t n_out,
                    const int64_t* irows, int64_t n_in, int64_t m, const float* twr, const float* twi, const float* xr,
                    const float* xi, float* yr, float* yi) {
    if (r <= 16 && m % 16 == 0) return level_dp(gr, gi, conj, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    if (m % 16) return level_generic(gr, gi, conj, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    if (conj) level_simd<true>(gr, gi, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    else level_simd<false>(gr, gi, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
  }
  static void leaf(const float* gr, const float* gi, bool conj, int64_t n, const int64_t* rows, int64_t nrows,
                   float* xr, float* xi) {
    if (n == 16 || n == 32) return leaf_dp(gr, gi, conj, n, rows, nrows, xr, xi);
    leaf_generic(gr, gi, conj, n, rows, nrows, xr, xi);
  }
};

}  // namespace avx512bf16_isa

void conv_fwd_avx512bf16(const ConvArgs& a, int64_t h0, int64_t h1) {
  if (a.dt != Dt::bf16) return conv_fwd_avx512(a, h0, h1);
  avx512bf16_isa::conv_fwd_impl<avx512bf16_isa::Dp, float, uint16_t>(a, h0, h1);
}
void conv_bwd_avx512bf16(const ConvArgs& a, int64_t h0, int64_t h1) {
  if (a.dt != Dt::bf16) return conv_bwd_avx512(a, h0, h1);
  avx512bf16_isa::conv_bwd_impl<avx512bf16_isa::Dp, float, uint16_t>(a, h0, h1);
}
void fft_avx512bf16_f32(const FftPlan& p, float* re, float* im) {
  avx512bf16_isa::fft_whole<avx512bf16_isa::Dp, float>(p, re, im);
}

}  // namespace fftk
}  // namespace lmforge
