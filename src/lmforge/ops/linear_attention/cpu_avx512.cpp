// Linear-attention kernels with the shared AVX-512 fp32 GEMM micro-kernel (ops/avx512_gemm.inc),
// in blocks of 4 rows x 64 columns of C (the triangular limits are per row block). The chunked
// algorithm is driver.inc's.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "lmforge/ops/linear_attention/kernel.h"

namespace lmforge {
namespace lak {
namespace {

#include "lmforge/ops/linear_attention/driver.inc"

#include "lmforge/ops/avx512_gemm.inc"

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
        pick_micro<Fp32Micro>(rows, static_cast<int>((nb + 15) / 16))(p_hi - p_lo, A + i0 * rsa + p_lo * csa, rsa, csa,
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
