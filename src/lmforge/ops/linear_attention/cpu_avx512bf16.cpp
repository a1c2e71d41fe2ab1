// Linear-attention kernels for bf16 inputs with AVX-512-BF16 dot products (VDPBF16PS:
// c[j] += a[2p] b[2p][j] + a[2p+1] b[2p+1][j] in fp32, per 32-bit lane), the route of the machines
// with avx512_bf16 but no AMX (AMD EPYC). The algorithm, the packing and the numerics are the AMX
// kernel's (bf16_driver.inc); only the product differs, and it reads the same operands:
//   C (M x N fp32) (+)= A (M x K bf16, row-major) x B (K/2 x N VNNI words)
// A register block of 4 rows x 64 columns (16 zmm accumulators): per pair p of the reduction, the
// four B vectors (row p of the VNNI block: 16 words = 16 columns x 2 reduction steps each) are
// loaded once and each row's pair (A[i][2p], A[i][2p+1]) is broadcast as one 32-bit word, so one
// instruction does 32 multiply-adds (two per lane) with fp32 accumulation, like a TDPBF16PS row.
// The accumulation order differs from the tiles' (sequential over pairs here), which changes
// results only at fp32 rounding level.
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

// Rows [i, i + R) x columns [j, j + 16 NV) of C over the reduction pairs [p_lo, p_hi).
template <int R, int NV>
inline void dp_block(int64_t p_lo, int64_t p_hi, const bf16* A, int64_t lda, const uint32_t* B, int64_t ldb, float* C,
                     int64_t ldc, bool accumulate) {
  __m512 c[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t p = p_lo; p < p_hi; ++p) {
    __m512bh b[NV];
    for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(B + p * ldb + 16 * v);
    for (int r = 0; r < R; ++r) {
      int32_t pair;  // (A[r][2p], A[r][2p+1]) as one word
      std::memcpy(&pair, A + r * lda + 2 * p, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_dpbf16_ps(c[r][v], a, b[v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, c[r][v]);
}

struct DpGemm {
  struct Scope {};  // no per-thread unit state
  // Same contract and the same 32-block triangular limits as the AMX tgemm (bf16_driver.inc).
  static void gemm(Tri tri, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const uint32_t* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    for (int64_t i0 = 0; i0 < M; i0 += 32) {
      const int64_t p_lo = (tri == Tri::k_upper ? i0 : 0) / 2;
      const int64_t p_hi = (tri == Tri::k_lower ? std::min(K, i0 + 32) : K) / 2;
      const int64_t j_lo = tri == Tri::n_upper ? i0 : 0;
      const int64_t j_hi = tri == Tri::n_lower ? std::min(N, i0 + 32) : N;
      for (int64_t j0 = j_lo; j0 < j_hi; j0 += 64) {
        const bool wide = j_hi - j0 >= 64;  // else a 32-column tail (N is a multiple of 32)
        for (int64_t i = i0; i < i0 + 32; i += 4) {
          const bf16* a = A + i * lda;
          const uint32_t* b = B + j0;
          float* c = C + i * ldc + j0;
          if (wide) dp_block<4, 4>(p_lo, p_hi, a, lda, b, ldb, c, ldc, accumulate);
          else dp_block<4, 2>(p_lo, p_hi, a, lda, b, ldb, c, ldc, accumulate);
        }
      }
    }
  }
};

}  // namespace

void la_fwd_avx512bf16_bf16(const LaArgs& a, int64_t b0, int64_t b1) { fwd_bf16<DpGemm>(a, b0, b1); }
void la_bwd_avx512bf16_bf16(const LaArgs& a, int64_t b0, int64_t b1) { bwd_bf16<DpGemm>(a, b0, b1); }

}  // namespace lak
}  // namespace lmforge
