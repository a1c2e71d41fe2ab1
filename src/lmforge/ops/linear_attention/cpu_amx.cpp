// Linear-attention kernels for bf16 inputs on AMX tiles (TDPBF16PS: fp32 C += bf16 A x bf16 B).
// The algorithm, the packing and the numerics (what is rounded to bf16 and why) are shared with
// the AVX-512-BF16 kernel in bf16_driver.inc; this TU supplies the product: G::gemm on tiles.
// Tiles, their configuration and its scope: ops/amx_tiles.inc (this TU's product has triangular
// limits, so it keeps its own loop over the 32 x 32 C blocks).
// GCC 12's avx512fintrin.h warns about its own _mm512_reduce_add_ps / masked intrinsics
// (an uninitialised __Y inside the header); silence that here only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lmforge/ops/linear_attention/kernel.h"

namespace lmforge {
namespace lak {
namespace {

#include "lmforge/ops/linear_attention/bf16_driver.inc"

#include "lmforge/ops/amx_tiles.inc"

// M, N, K multiples of 32.
void tgemm(Tri tri, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const uint32_t* B, int64_t ldb,
           float* C, int64_t ldc, bool accumulate) {
  const int64_t sa = lda * 2, sb = ldb * 4, sc = ldc * 4;
  for (int64_t i0 = 0; i0 < M; i0 += 32) {
    const int64_t p_lo = tri == Tri::k_upper ? i0 : 0;
    const int64_t p_hi = tri == Tri::k_lower ? std::min(K, i0 + 32) : K;
    const int64_t j_lo = tri == Tri::n_upper ? i0 : 0;
    const int64_t j_hi = tri == Tri::n_lower ? std::min(N, i0 + 32) : N;
    for (int64_t j0 = j_lo; j0 < j_hi; j0 += 32) {
      float* c = C + i0 * ldc + j0;
      if (accumulate) {
        _tile_loadd(0, c, sc);
        _tile_loadd(1, c + 16, sc);
        _tile_loadd(2, c + 16 * ldc, sc);
        _tile_loadd(3, c + 16 * ldc + 16, sc);
      } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
      }
      for (int64_t p = p_lo; p < p_hi; p += 32) {
        _tile_loadd(4, A + i0 * lda + p, sa);
        _tile_loadd(5, A + (i0 + 16) * lda + p, sa);
        _tile_loadd(6, B + (p / 2) * ldb + j0, sb);
        _tile_loadd(7, B + (p / 2) * ldb + j0 + 16, sb);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, c, sc);
      _tile_stored(1, c + 16, sc);
      _tile_stored(2, c + 16 * ldc, sc);
      _tile_stored(3, c + 16 * ldc + 16, sc);
    }
  }
}

struct AmxGemm {
  using Scope = TileScope;
  static void gemm(Tri tri, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const uint32_t* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    tgemm(tri, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  }
};

}  // namespace

void la_fwd_amx_bf16(const LaArgs& a, int64_t b0, int64_t b1) { fwd_bf16<AmxGemm>(a, b0, b1); }
void la_bwd_amx_bf16(const LaArgs& a, int64_t b0, int64_t b1) { bwd_bf16<AmxGemm>(a, b0, b1); }

}  // namespace lak
}  // namespace lmforge
