// Flash-attention kernels in plain C++ (float and double): the fallback below AVX-512 and the
// float64 path of the finite-difference gradient checks. The GEMM is a row-blocked loop nest whose
// inner loop (over contiguous output columns) the compiler vectorises; exp is std::exp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lmforge/ops/flash_attn/kernel.h"

namespace lmforge {
namespace fak {
namespace {

#include "lmforge/ops/flash_attn/driver.inc"

struct Generic {
  template <class T>
  static void gemm(int64_t m, int64_t n, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B, int64_t ldb,
                   T* C, int64_t ldc, bool accumulate) {
    for (int64_t i = 0; i < m; ++i) {
      T* c = C + i * ldc;
      if (!accumulate) std::fill(c, c + n, T(0));
      for (int64_t p = 0; p < k; ++p) {
        const T x = A[i * rsa + p * csa];
        const T* b = B + p * ldb;
        for (int64_t j = 0; j < n; ++j) c[j] += x * b[j];
      }
    }
  }

  template <class T>
  static T mask_row(T* s, int64_t n, int64_t j0, int64_t lo, int64_t hi, const uint8_t* pad, T scale, T slope,
                    int64_t qp) {
    T mx = neg_inf<T>();
    for (int64_t c = 0; c < n; ++c) {
      const int64_t j = j0 + c;
      const bool visible = j >= lo && j < hi && (!pad || pad[c]);
      // The bias in float like the reference's (slope and distance are float there).
      const T bias = static_cast<T>(static_cast<float>(slope) * static_cast<float>(std::llabs(qp - j)));
      s[c] = visible ? s[c] * scale - bias : neg_inf<T>();
      mx = std::max(mx, s[c]);
    }
    return mx;
  }

  template <class T>
  static T exp_row(T* s, int64_t n, T shift) {
    T sum = 0;
    for (int64_t c = 0; c < n; ++c) sum += (s[c] = std::exp(s[c] - shift));
    return sum;
  }
};

}  // namespace

void fa_fwd_generic_f32(const FaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, Generic>(a, b0, b1); }
void fa_bwd_generic_f32(const FaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, Generic>(a, b0, b1); }
void fa_fwd_generic_f64(const FaArgs& a, int64_t b0, int64_t b1) { fwd_slices<double, Generic>(a, b0, b1); }
void fa_bwd_generic_f64(const FaArgs& a, int64_t b0, int64_t b1) { bwd_slices<double, Generic>(a, b0, b1); }

}  // namespace fak
}  // namespace lmforge
