// The Monarch FFT plan of FlashFFTConv (Fu et al. 2023, "FlashFFTConv: Efficient Convolutions for
// Long Sequences with Tensor Cores"): N = r0 * r1 * ... * leaf. Level i views its block of
// size[i] = r_i * size[i+1] points as an r_i x m matrix (x[a, j] = x[a*m + j]), multiplies by the
// r_i x r_i DFT matrix down the columns (a matmul: the work runs on FMA / matrix units), multiplies
// by the twiddles exp(-2 pi i c j / size[i]), and recurses into each row. The leaf multiplies each
// contiguous row by its DFT matrix from the right. Frequency f = c + r*d lands at c*m + pos_sub(d):
// the "transposed" Monarch layout. The filter spectrum is computed in that same layout, the
// pointwise product happens there, and the inverse walks the levels back to natural order, so the
// data are never permuted.
//
// This header is included by the per-ISA kernel TUs: plain data and raw pointers only (no inline
// std:: containers, which would be compiled once per ISA and clash at link time).
#pragma once
#include <cstdint>

namespace lmforge {
namespace fftk {

constexpr int kMaxLevels = 12;

struct FftPlan {
  int64_t n = 0;
  int levels = 0;                     // the last one is the leaf
  int64_t radix[kMaxLevels] = {};     // r_i
  int64_t size[kMaxLevels + 1] = {};  // size[i] = r_i * size[i+1]; size[levels] = 1
  // DFT matrix of level i, r_i x r_i row-major, F[c*r + a] = exp(-2 pi i c a / r) (symmetric).
  const float *fr[kMaxLevels] = {}, *fi[kMaxLevels] = {};
  const double *dfr[kMaxLevels] = {}, *dfi[kMaxLevels] = {};
  // Twiddles of level i (not the leaf): r_i x m, tw[c*m + j] = exp(-2 pi i c j / size[i]).
  const float *twr[kMaxLevels] = {}, *twi[kMaxLevels] = {};
  const double *dtwr[kMaxLevels] = {}, *dtwi[kMaxLevels] = {};
};

// The plan for an FFT of size n (a power of two), cached for the life of the process.
// max_radix (0 = default, or LMFORGE_FFT_RADIX) bounds the non-leaf radices.
const FftPlan& fft_plan(int64_t n, int64_t max_radix = 0);
// max_radix = kTilePlan: the plan of the AMX tile stages (fewest passes: leaf 32, levels <= 16).
// Only for dense convolutions: the frequency-sparsity rows are defined on fft_plan(n)'s top level.
constexpr int64_t kTilePlan = -1;

// Where frequency f of the forward transform lands in the plan's output layout.
int64_t fft_layout_position(const FftPlan& p, int64_t f);

}  // namespace fftk
}  // namespace lmforge
