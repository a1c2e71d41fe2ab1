// Flash-attention kernels with AVX-512 (float): a register-blocked GEMM micro-kernel (up to 6 rows x
// 64 columns of C in 24 zmm accumulators, one broadcast of A per row and up to 4 loads of B per step
// of the inner dimension, masked tails), and the masking and exponentials of the online softmax 16 lanes
// at a time (the micro-kernel is ops/avx512_gemm.inc's). The tiled algorithm is driver.inc's.
// The AVX-512-BF16 variant (bf16 inputs where the CPU has avx512_bf16: the AMD EPYC machines, and
// the AMX ones) keeps everything but the GEMMs in fp32; each GEMM rounds its operands to bf16
// (exact for q, k, v, which came in as bf16; P and dS are rounded, as flash attention does on GPUs),
// packs them in pairs along the inner dimension and multiplies with VDPBF16PS, twice the products
// per instruction of fp32 FMA, accumulating in fp32. Called only when Isa::avx512bf16 is active.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <limits>
#include <vector>

#include "lmforge/ops/flash_attn/kernel.h"

namespace lmforge {
namespace fak {
namespace {

#include "lmforge/ops/flash_attn/driver.inc"

#include "lmforge/ops/avx512_gemm.inc"

// exp(x) for x <= 0 (softmax arguments): n = round(x / ln 2), r = x - n ln 2 in two parts
// (Cody-Waite), e^r by its degree-6 Taylor polynomial (|r| <= ln2/2: relative error < 2e-7),
// times 2^n by scalef. Below -87.3 (where float exp underflows) and for -inf the result is exactly 0.
inline __m512 exp_ps(__m512 x) {
  const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_maskz_mov_ps(live, _mm512_scalef_ps(p, n));
}

// Rows of C per register block: 6 x 4 zmm = 24 accumulators + 4 of B (of 32 registers) gives
// 24 FMAs per 4 loads and 6 broadcasts (13-15% faster than 4 rows, measured at L = 2048).
constexpr int kRows = 6;

struct Avx512 {
  static void gemm(int64_t m, int64_t n, int64_t k, const float* A, int64_t rsa, int64_t csa, const float* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
      const int64_t nb = std::min<int64_t>(64, n - j0);
      const int nv = static_cast<int>((nb + 15) / 16);
      for (int64_t i0 = 0; i0 < m; i0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
        pick_micro<Fp32Micro>(rows, nv)(k, A + i0 * rsa, rsa, csa, B + j0, ldb, C + i0 * ldc + j0, ldc, nb, accumulate);
      }
    }
  }

  static float mask_row(float* s, int64_t n, int64_t j0, int64_t lo, int64_t hi, const uint8_t* pad, float scale,
                        float slope, int64_t qp) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 vscale = _mm512_set1_ps(scale), vslope = _mm512_set1_ps(slope), ninf = _mm512_set1_ps(neg_inf<float>());
    const __m512i vlo = _mm512_set1_epi32(static_cast<int>(lo)), vhi = _mm512_set1_epi32(static_cast<int>(hi));
    const __m512i vqp = _mm512_set1_epi32(static_cast<int>(qp));
    __m512 vmax = ninf;
    for (int64_t c = 0; c < n; c += 16) {
      const __mmask16 m = tail_mask(n - c);
      const __m512i j = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(j0 + c)), lane);
      __mmask16 vis = m & _mm512_cmpge_epi32_mask(j, vlo) & _mm512_cmplt_epi32_mask(j, vhi);
      if (pad) {
        const __m128i pv = _mm_maskz_loadu_epi8(m, pad + c);
        vis &= _mm_test_epi8_mask(pv, pv);
      }
      __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + c), vscale);
      if (slope != 0.f) {
        const __m512 dist = _mm512_cvtepi32_ps(_mm512_abs_epi32(_mm512_sub_epi32(vqp, j)));
        x = _mm512_sub_ps(x, _mm512_mul_ps(vslope, dist));  // rounded like the reference's bias
      }
      x = _mm512_mask_blend_ps(vis, ninf, x);
      _mm512_mask_storeu_ps(s + c, m, x);
      vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
    }
    return _mm512_reduce_max_ps(vmax);
  }

  static float exp_row(float* s, int64_t n, float shift) {
    const __m512 vshift = _mm512_set1_ps(shift);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += 16) {
      const __mmask16 m = tail_mask(n - c);
      const __m512 e = _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + c), vshift)));
      _mm512_mask_storeu_ps(s + c, m, e);
      sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
  }
};

// fp32 -> bf16 bits, round to nearest even (the inputs are finite).
inline uint32_t bf16_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

// Pair packing of a k x n fp32 matrix (rows p at src + p * ld, contiguous in j) into
// out[pp * n + j] = (bf16 x[2pp+1, j] << 16) | bf16 x[2pp, j], rounding to nearest even; an odd k pads
// with 0. This is the VNNI layout VDPBF16PS multiplies.
void pack_pairs(const float* src, int64_t k, int64_t n, int64_t ld, uint32_t* out) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t pp = 0; pp < (k + 1) / 2; ++pp) {
    const float* r0 = src + 2 * pp * ld;
    const float* r1 = 2 * pp + 1 < k ? r0 + ld : nullptr;
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 mk = tail_mask(n - j);
      const __m256i lo = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, r0 + j));
      const __m256i hi = (__m256i)_mm512_cvtneps_pbh(r1 ? _mm512_maskz_loadu_ps(mk, r1 + j) : zero);
      const __m512i w = _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
      _mm512_mask_storeu_epi32(out + pp * n + j, mk, w);
    }
  }
}

// Rows of m x k fp32 (row i at src + i * ld, contiguous in p) to bf16 rows of kp pairs
// (out[i * kp + pp]); the pairs of a contiguous row are its bf16 values in order.
void pack_rows(const float* src, int64_t m, int64_t k, int64_t ld, uint32_t* out) {
  const int64_t kp = (k + 1) / 2;
  for (int64_t i = 0; i < m; ++i) {
    uint16_t* o = reinterpret_cast<uint16_t*>(out + i * kp);
    for (int64_t p = 0; p < 2 * kp; p += 16) {
      const __mmask16 mk = tail_mask(k - p);
      const __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, src + i * ld + p));
      _mm256_mask_storeu_epi16(o + p, tail_mask(2 * kp - p), h);
    }
  }
}

// The multiply-add of the VDPBF16PS micro-kernel: A and B hold bf16 pairs (uint32), each lane adds
// the products of its two pairs to the fp32 accumulator.
struct Bf16Pairs {
  using A = uint32_t;
  using B = uint32_t;
  using Vb = __m512i;
  static __m512i load_b(__mmask16 m, const uint32_t* p) { return _mm512_maskz_loadu_epi32(m, p); }
  static __m512i broadcast(uint32_t a) { return _mm512_set1_epi32(static_cast<int>(a)); }
  static __m512 madd(__m512 c, __m512i a, __m512i b) { return _mm512_dpbf16_ps(c, (__m512bh)a, (__m512bh)b); }
};
using Bf16Micro = RegisterBlock<Bf16Pairs>;

struct Avx512Bf16 : Avx512 {
  // Packs A and B in bf16 pairs along k (vectorised both when A's rows are contiguous, csa = 1, and
  // when its columns are, rsa = 1: the transposed P^T and dS^T of the backward), then runs the
  // VDPBF16PS micro-kernel. Packing is O(mk + kn) against O(mnk) products (1/64 at 64 x 64 tiles).
  static void gemm(int64_t m, int64_t n, int64_t k, const float* A, int64_t rsa, int64_t csa, const float* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    thread_local std::vector<uint32_t> ap, bp;
    const int64_t kp = (k + 1) / 2;
    ap.resize(m * kp);
    bp.resize(kp * n);
    int64_t ars, aps;
    if (csa == 1) {
      pack_rows(A, m, k, rsa, ap.data());
      ars = kp, aps = 1;
    } else if (rsa == 1) {
      pack_pairs(A, k, m, csa, ap.data());  // A^T is k x m with contiguous rows
      ars = 1, aps = m;
    } else {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t p = 0; p < 2 * kp; ++p)
          reinterpret_cast<uint16_t*>(ap.data())[i * 2 * kp + p] =
              p < k ? static_cast<uint16_t>(bf16_bits(A[i * rsa + p * csa])) : uint16_t(0);
      ars = kp, aps = 1;
    }
    pack_pairs(B, k, n, ldb, bp.data());
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
      const int64_t nb = std::min<int64_t>(64, n - j0);
      const int nv = static_cast<int>((nb + 15) / 16);
      for (int64_t i0 = 0; i0 < m; i0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
        pick_micro<Bf16Micro>(rows, nv)(kp, ap.data() + i0 * ars, ars, aps, bp.data() + j0, n, C + i0 * ldc + j0, ldc, nb,
                            accumulate);
      }
    }
  }
};

}  // namespace

void fa_fwd_avx512bf16_f32(const FaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, Avx512Bf16>(a, b0, b1); }
void fa_bwd_avx512bf16_f32(const FaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, Avx512Bf16>(a, b0, b1); }
void fa_fwd_avx512_f32(const FaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, Avx512>(a, b0, b1); }
void fa_bwd_avx512_f32(const FaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, Avx512>(a, b0, b1); }

}  // namespace fak
}  // namespace lmforge
