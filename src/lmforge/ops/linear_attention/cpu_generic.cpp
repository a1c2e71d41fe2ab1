// Linear-attention kernels in plain C++ (float and double): the fallback below AVX-512 and the
// float64 path used by the finite-difference gradient checks. The GEMM is a row-blocked loop nest
// whose inner loop (over contiguous output columns) the compiler vectorises.
#include <algorithm>
#include <vector>

#include "lmforge/ops/linear_attention/kernel.h"

namespace lmforge {
namespace lak {
namespace {

#include "lmforge/ops/linear_attention/driver.inc"

struct GenericGemm {
  // C[i, j] (+)= sum_p A[i*rsa + p*csa] * B[p*ldb + j], with the triangular limits of `tri`.
  template <class T>
  static void gemm(Tri tri, int64_t m, int64_t n, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B,
                   int64_t ldb, T* C, int64_t ldc, bool accumulate) {
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      const int64_t i1 = std::min(m, i0 + 4);
      const int64_t p_lo = tri == Tri::k_upper ? i0 : 0;
      const int64_t p_hi = tri == Tri::k_lower ? std::min(k, i1) : k;
      const int64_t n_hi = tri == Tri::n_lower ? std::min(n, i1) : n;
      for (int64_t i = i0; i < i1; ++i) {
        T* c = C + i * ldc;
        if (!accumulate) std::fill(c, c + n_hi, T(0));
        for (int64_t p = p_lo; p < p_hi; ++p) {
          const T a = A[i * rsa + p * csa];
          const T* b = B + p * ldb;
          for (int64_t j = 0; j < n_hi; ++j) c[j] += a * b[j];
        }
      }
    }
  }
};

}  // namespace

void la_fwd_generic_f32(const LaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, GenericGemm>(a, b0, b1); }
void la_bwd_generic_f32(const LaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, GenericGemm>(a, b0, b1); }
void la_fwd_generic_f64(const LaArgs& a, int64_t b0, int64_t b1) { fwd_slices<double, GenericGemm>(a, b0, b1); }
void la_bwd_generic_f64(const LaArgs& a, int64_t b0, int64_t b1) { bwd_slices<double, GenericGemm>(a, b0, b1); }

}  // namespace lak
}  // namespace lmforge
