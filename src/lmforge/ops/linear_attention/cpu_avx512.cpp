// Linear-attention kernels with an AVX-512 fp32 GEMM micro-kernel: up to 4 rows x 64 columns of C
// in 16 zmm accumulators, one broadcast of A and up to 4 loads of B per step of the inner
// dimension; masked loads/stores for column tails. The chunked algorithm is driver.inc's.
// The loops over the register block are unrolled by pragma: without it GCC 12 keeps the
// accumulator array on the stack and stores it back every step.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "lmforge/ops/linear_attention/kernel.h"

namespace lmforge {
namespace lak {
namespace {

#include "lmforge/ops/linear_attention/driver.inc"

inline __mmask16 tail_mask(int64_t nb, int v) {
  const int64_t rem = nb - 16 * v;
  return rem >= 16 ? __mmask16(0xFFFF) : rem <= 0 ? __mmask16(0) : __mmask16((1u << rem) - 1);
}

template <int R, int NV>
void micro(int64_t kb, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t ldb, float* C, int64_t ldc,
           int64_t nb, bool accumulate) {
  __mmask16 m[NV];
  _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) m[v] = tail_mask(nb, v);
  __m512 c[R][NV];
  _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r)
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) c[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kb; ++p) {
    const float* b = B + p * ldb;
    __m512 bv[NV];
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) bv[v] = _mm512_maskz_loadu_ps(m[v], b + 16 * v);
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * rsa + p * csa]);
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, bv[v], c[r][v]);
    }
  }
  _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r)
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      float* out = C + r * ldc + 16 * v;
      __m512 x = c[r][v];
      if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m[v], out));
      _mm512_mask_storeu_ps(out, m[v], x);
    }
}

using Micro = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);

template <int R>
Micro pick_nv(int nv) {
  switch (nv) {
    case 1: return micro<R, 1>;
    case 2: return micro<R, 2>;
    case 3: return micro<R, 3>;
    default: return micro<R, 4>;
  }
}

Micro pick(int rows, int nv) {
  switch (rows) {
    case 1: return pick_nv<1>(nv);
    case 2: return pick_nv<2>(nv);
    case 3: return pick_nv<3>(nv);
    default: return pick_nv<4>(nv);
  }
}

struct Avx512Gemm {
  static void gemm(Tri tri, int64_t m, int64_t n, int64_t k, const float* A, int64_t rsa, int64_t csa,
                   const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      const int rows = static_cast<int>(std::min<int64_t>(4, m - i0));
      const int64_t p_lo = tri == Tri::k_upper ? std::min(i0, k) : 0;
      const int64_t p_hi = tri == Tri::k_lower ? std::min(k, i0 + rows) : k;
      const int64_t n_hi = tri == Tri::n_lower ? std::min(n, i0 + rows) : n;
      for (int64_t j0 = 0; j0 < n_hi; j0 += 64) {
        const int64_t nb = std::min<int64_t>(64, n_hi - j0);
        pick(rows, static_cast<int>((nb + 15) / 16))(p_hi - p_lo, A + i0 * rsa + p_lo * csa, rsa, csa,
                                                     B + p_lo * ldb + j0, ldb, C + i0 * ldc + j0, ldc, nb,
                                                     accumulate);
      }
    }
  }
};

}  // namespace

void la_fwd_avx512_f32(const LaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, Avx512Gemm>(a, b0, b1); }
void la_bwd_avx512_f32(const LaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, Avx512Gemm>(a, b0, b1); }

}  // namespace lak
}  // namespace lmforge
