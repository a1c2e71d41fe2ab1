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

#include "lmforge/ops/fftconv/avx512_stages.inc"

struct Simd {
  static constexpr int64_t leaf_batch = 4;  // rows per forward-product-inverse group in conv_block
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
